package coderd_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// healthApps are the apps of the agent in the app health tests: one with a
// health check, one without.
var healthApps = []codersdk.ProvisionerApp{
	{Slug: "web", DisplayName: "Web", URL: "http://localhost:8080/", Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:8080/healthz", Interval: 5, Threshold: 6}},
	{Slug: "plain", DisplayName: "Plain", URL: "http://localhost:8081/"},
}

// completeBuildWithApps completes the workspace build buildID, playing the
// daemon, with one agent that has healthApps and authenticates with a new
// token, returned as that agent's client.
func completeBuildWithApps(t *testing.T, owner, daemon *codersdk.Client, buildID uuid.UUID) *codersdk.Client {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.NotNil(t, job.WorkspaceBuild)
	require.Equal(t, buildID, job.WorkspaceBuild.WorkspaceBuildID)
	token := uuid.NewString()
	res := []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
		Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Apps: healthApps,
	}}}}
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id,
		WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte("{}"), Resources: res}}))
	agent := codersdk.New(owner.URL)
	agent.SetSessionToken(token)
	return agent
}

// appHealthWorkspace is a running workspace whose agent has healthApps.
func appHealthWorkspace(t *testing.T) (owner, daemon, agent *codersdk.Client, ws codersdk.Workspace) {
	t.Helper()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "apphealth", VersionID: v.ID})
	require.NoError(t, err)
	ws, err = owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "apphealth"})
	require.NoError(t, err)
	agent = completeBuildWithApps(t, owner, daemon, ws.LatestBuild.ID)
	return owner, daemon, agent, ws
}

// appHealths reads each app's health as GET /workspaces/{id} shows it, and
// checks that GET /workspaceagents/{id} agrees.
func appHealths(t *testing.T, owner *codersdk.Client, wsID uuid.UUID) map[string]codersdk.WorkspaceAppHealth {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	ws, err := owner.Workspace(ctx, wsID)
	require.NoError(t, err)
	require.Len(t, ws.LatestBuild.Resources, 1)
	require.Len(t, ws.LatestBuild.Resources[0].Agents, 1)
	a := ws.LatestBuild.Resources[0].Agents[0]
	out := map[string]codersdk.WorkspaceAppHealth{}
	for _, app := range a.Apps {
		out[app.Slug] = app.Health
	}
	byID, err := owner.WorkspaceAgent(ctx, a.ID)
	require.NoError(t, err)
	for _, app := range byID.Apps {
		require.Equal(t, out[app.Slug], app.Health, "GET /workspaceagents/{id} and GET /workspaces/{id} disagree on app %s", app.Slug)
	}
	return out
}

// The agent's reports are stored and shown by the workspace and agent
// endpoints; an app without a check stays disabled; a new build's agent
// starts over at initializing.
func TestAppHealthReported(t *testing.T) {
	t.Parallel()
	owner, daemon, agent, ws := appHealthWorkspace(t)
	ctx := testutil.Context(t, time.Minute)
	require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthInitializing, "plain": codersdk.WorkspaceAppHealthDisabled},
		appHealths(t, owner, ws.ID), "before any report")

	for _, h := range []codersdk.WorkspaceAppHealth{codersdk.WorkspaceAppHealthHealthy, codersdk.WorkspaceAppHealthUnhealthy, codersdk.WorkspaceAppHealthHealthy} {
		require.NoError(t, agent.PostWorkspaceAppHealth(ctx, codersdk.PostWorkspaceAppHealthsRequest{Healths: map[string]codersdk.WorkspaceAppHealth{"web": h}}))
		require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": h, "plain": codersdk.WorkspaceAppHealthDisabled}, appHealths(t, owner, ws.ID))
	}
	// An empty report changes nothing.
	require.NoError(t, agent.PostWorkspaceAppHealth(ctx, codersdk.PostWorkspaceAppHealthsRequest{Healths: map[string]codersdk.WorkspaceAppHealth{}}))
	require.Equal(t, codersdk.WorkspaceAppHealthHealthy, appHealths(t, owner, ws.ID)["web"])

	b, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart})
	require.NoError(t, err)
	completeBuildWithApps(t, owner, daemon, b.ID)
	require.Equal(t, codersdk.WorkspaceAppHealthInitializing, appHealths(t, owner, ws.ID)["web"], "the new build's agent has not reported")
	// The old build's agent may no longer report.
	err = agent.PostWorkspaceAppHealth(ctx, codersdk.PostWorkspaceAppHealthsRequest{Healths: map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthHealthy}})
	var apiErr *codersdk.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.StatusCode())
	require.Equal(t, codersdk.WorkspaceAppHealthInitializing, appHealths(t, owner, ws.ID)["web"])
}

// Bad reports are refused with 400 naming each bad entry, and store
// nothing, not even their good entries.
func TestAppHealthBadInput(t *testing.T) {
	t.Parallel()
	owner, _, agent, ws := appHealthWorkspace(t)
	type healths = map[string]codersdk.WorkspaceAppHealth
	for _, tc := range []struct {
		name   string
		body   any
		fields []string
	}{
		{"unknown app", codersdk.PostWorkspaceAppHealthsRequest{Healths: healths{"nope": "healthy"}}, []string{"healths.nope"}},
		{"app without health check", codersdk.PostWorkspaceAppHealthsRequest{Healths: healths{"plain": "healthy"}}, []string{"healths.plain"}},
		{"unknown state", codersdk.PostWorkspaceAppHealthsRequest{Healths: healths{"web": "exploded"}}, []string{"healths.web"}},
		{"disabled is not reportable", codersdk.PostWorkspaceAppHealthsRequest{Healths: healths{"web": "disabled"}}, []string{"healths.web"}},
		{"empty state", codersdk.PostWorkspaceAppHealthsRequest{Healths: healths{"web": ""}}, []string{"healths.web"}},
		{"good and bad entries", codersdk.PostWorkspaceAppHealthsRequest{Healths: healths{"web": "healthy", "nope": "healthy", "plain": "unhealthy"}}, []string{"healths.nope", "healths.plain"}},
		{"healths missing", map[string]any{}, []string{"healths"}},
		{"healths null", map[string]any{"healths": nil}, []string{"healths"}},
		{"state a number", map[string]any{"healths": map[string]any{"web": 1}}, []string{"healths"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testutil.Context(t, 30*time.Second)
			res, err := agent.Request(ctx, http.MethodPost, "/api/v2/workspaceagents/me/app-health", tc.body)
			require.NoError(t, err)
			apiErr := new(codersdk.Error)
			require.True(t, errors.As(codersdk.ReadBodyAsError(res), &apiErr))
			require.Equal(t, http.StatusBadRequest, apiErr.StatusCode(), "%v", apiErr)
			var fields []string
			for _, v := range apiErr.Validations {
				fields = append(fields, v.Field)
				require.NotEmpty(t, v.Detail)
			}
			require.Equal(t, tc.fields, fields, "%v", apiErr)
			require.Equal(t, codersdk.WorkspaceAppHealthInitializing, appHealths(t, owner, ws.ID)["web"], "a refused report stored something")
		})
	}
}
