package site_test

import (
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestWorkspacePageAppHealth: the workspace page's polled status fragment
// shows a badge with each checked app's health as the agent reported it
// (initializing until then), and none for an app without a health check.
func TestWorkspacePageAppHealth(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, client, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := client.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
	require.NoError(t, err)
	_, err = client.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	token, daemonID := uuid.NewString(), uuid.New()
	job := coderdtest.AcquireJob(t, daemon, daemonID, nil)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID, WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{
		State: []byte("{}"),
		Resources: []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
			Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64",
			Apps: []codersdk.ProvisionerApp{
				{Slug: "web", DisplayName: "Web", URL: "http://localhost:8080/", Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:8080/healthz", Interval: 5, Threshold: 6}},
				{Slug: "plain", DisplayName: "Plain", URL: "http://localhost:8081/"},
			},
		}}}},
	}}))
	agent := codersdk.New(srv.URL)
	agent.SetSessionToken(token)

	b := (&dashboard{URL: srv.URL, Client: client, Server: srv}).browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)
	appRe := regexp.MustCompile(`(?s)<li data-app="([^"]+)">(.*?)</li>`)
	healthRe := regexp.MustCompile(`data-health="([^"]*)"`)
	// badges maps each listed app to its health badge ("" for none), as
	// the fragment the page polls every 2 s shows it.
	badges := func() map[string]string {
		t.Helper()
		p := b.get("/@admin/ws?partial=status")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		out := map[string]string{}
		for _, m := range appRe.FindAllStringSubmatch(p.Body, -1) {
			h := healthRe.FindStringSubmatch(m[2])
			out[m[1]] = ""
			if h != nil {
				out[m[1]] = h[1]
			}
		}
		return out
	}
	require.Equal(t, map[string]string{"web": "initializing", "plain": ""}, badges())
	for _, h := range []codersdk.WorkspaceAppHealth{codersdk.WorkspaceAppHealthHealthy, codersdk.WorkspaceAppHealthUnhealthy} {
		require.NoError(t, agent.PostWorkspaceAppHealth(ctx, codersdk.PostWorkspaceAppHealthsRequest{Healths: map[string]codersdk.WorkspaceAppHealth{"web": h}}))
		require.Equal(t, map[string]string{"web": string(h), "plain": ""}, badges())
	}
	// The full page has the same fragment inside its polled block.
	p := b.get("/@admin/ws")
	require.Equal(t, http.StatusOK, p.Status)
	require.Regexp(t, `(?s)data-poll="/@admin/ws\?partial=status".*data-app="web".*data-health="unhealthy"`, p.Body)
}
