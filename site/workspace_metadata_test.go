package site_test

import (
	"html"
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

// TestWorkspacePageAgentMetadata: the agent card in the workspace page's
// polled status fragment lists each metadata item (display name, then the
// value or the error, and its age), "not collected yet" before the agent
// reported it, and follows new reports.
func TestWorkspacePageAgentMetadata(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, client, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := client.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := client.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Metadata: []codersdk.ProvisionerAgentMetadata{
			{Key: "cpu", DisplayName: "CPU", Script: "coder stat cpu", Interval: 10, Timeout: 1},
			{Key: "disk", DisplayName: "Disk", Script: "df", Interval: 60},
		}}}}})
	agent := codersdk.New(srv.URL)
	agent.SetSessionToken(token)

	b := (&dashboard{URL: srv.URL, Client: client, Server: srv}).browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)
	itemRe := regexp.MustCompile(`(?s)<dt>([^<]*)</dt><dd data-metadata="([^"]+)">(.*?)</dd>`)
	tagRe := regexp.MustCompile(`<[^>]+>`)
	// items maps key -> "Display name: shown text" as the fragment the
	// page polls every 2 s shows it.
	items := func() map[string]string {
		t.Helper()
		p := b.get("/@admin/ws?partial=status")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		out := map[string]string{}
		for _, m := range itemRe.FindAllStringSubmatch(p.Body, -1) {
			out[m[2]] = html.UnescapeString(m[1] + ": " + tagRe.ReplaceAllString(m[3], ""))
		}
		return out
	}
	require.Equal(t, map[string]string{"cpu": "CPU: not collected yet", "disk": "Disk: not collected yet"}, items())

	require.NoError(t, agent.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{
		{Key: "cpu", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Value: "12% <b>"}},
		{Key: "disk", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Error: "exit status 1: df failed"}},
	}}))
	got := items()
	require.Regexp(t, `^CPU: 12% <b> (now|just now|\d+ seconds? ago)$`, got["cpu"], "value (escaped) and age")
	require.Regexp(t, `^Disk: exit status 1: df failed `, got["disk"])

	// The full page has the same list inside its polled block.
	p := b.get("/@admin/ws")
	require.Equal(t, http.StatusOK, p.Status)
	require.Regexp(t, `(?s)data-poll="/@admin/ws\?partial=status".*data-metadata="cpu">12% &lt;b&gt;`, p.Body)
}
