package agent_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// A real agent against a real coderd: the health of an app with a health
// check reaches GET /workspaces/{id}, healthy while the app answers and
// unhealthy once it stops listening; the app without a check stays
// disabled.
func TestAppHealthThroughCoderd(t *testing.T) {
	t.Parallel()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(app.Close)

	owner, _ := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(t, owner)
	daemon := coderdtest.DaemonClient(owner)
	ctx := testutil.Context(t, 2*time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	token := uuid.NewString()
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{
		State: []byte("{}"),
		Resources: []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
			Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Directory: t.TempDir(),
			Apps: []codersdk.ProvisionerApp{
				{Slug: "web", URL: app.URL, Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: app.URL + "/healthz", Interval: 1, Threshold: 1}},
				{Slug: "plain", URL: app.URL},
			},
		}}}},
	}}))

	health := func() map[string]codersdk.WorkspaceAppHealth {
		ws, err := owner.Workspace(ctx, ws.ID)
		require.NoError(t, err)
		out := map[string]codersdk.WorkspaceAppHealth{}
		for _, a := range ws.LatestBuild.Resources[0].Agents[0].Apps {
			out[a.Slug] = a.Health
		}
		return out
	}
	require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthInitializing, "plain": codersdk.WorkspaceAppHealthDisabled}, health())

	startAgent(t, owner, token)
	var got map[string]codersdk.WorkspaceAppHealth
	require.Eventually(t, func() bool {
		got = health()
		return got["web"] == codersdk.WorkspaceAppHealthHealthy
	}, testutil.WaitLong, 50*time.Millisecond, "app health %v", got)
	require.Equal(t, codersdk.WorkspaceAppHealthDisabled, got["plain"])

	app.Close()
	require.Eventually(t, func() bool {
		got = health()
		return got["web"] == codersdk.WorkspaceAppHealthUnhealthy
	}, testutil.WaitLong, 50*time.Millisecond, "app health %v", got)
}
