package coderd_test

import (
	"encoding/json"
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

// scriptItems are the scripts of the agent in these tests: a blocking
// start script, a stop script, and a cron script that is also a
// non-blocking start script.
var scriptItems = []codersdk.ProvisionerScript{
	{DisplayName: "Install", Icon: "/icon/apt.svg", Script: "apt-get install -y tmux", RunOnStart: true, StartBlocksLogin: true, TimeoutSeconds: 60, LogPath: "/tmp/install.log"},
	{DisplayName: "Backup", Script: "tar czf /backup.tgz ~", RunOnStop: true},
	{DisplayName: "Sync", Script: "git pull", Cron: "0 * * * * *", RunOnStart: true},
}

// scriptsWorkspace is a running workspace whose agent has scripts; it
// returns the owner, the agent's client and the agent's ID.
func scriptsWorkspace(t *testing.T, scripts []codersdk.ProvisionerScript) (owner, agent *codersdk.Client, agentID uuid.UUID) {
	t.Helper()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "scripts", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "scripts"})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Scripts: scripts}}}})
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	agent = codersdk.New(owner.URL)
	agent.SetSessionToken(token)
	return owner, agent, ws.LatestBuild.Resources[0].Agents[0].ID
}

// The agent answer lists the scripts in the manifest's order with what
// users need (not the source) and no last run until one is reported; a
// report becomes the script's last run, a later one replaces it, and the
// workspace answer (the list's path) carries the same.
func TestAgentScriptCompleted(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	owner, agent, agentID := scriptsWorkspace(t, scriptItems)

	a, err := owner.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	require.Equal(t, codersdk.StartupScriptBehaviorBlocking, a.StartupScriptBehavior)
	require.Equal(t, []codersdk.WorkspaceAgentScript{
		{DisplayName: "Install", Icon: "/icon/apt.svg", RunOnStart: true, StartBlocksLogin: true, TimeoutSeconds: 60, LogPath: "/tmp/install.log"},
		{DisplayName: "Backup", RunOnStop: true},
		{DisplayName: "Sync", Cron: "0 * * * * *", RunOnStart: true},
	}, a.Scripts)

	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	require.NoError(t, agent.PostAgentScriptCompleted(ctx, codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 0, DisplayName: "Install",
		Stage: codersdk.AgentScriptStageStart, StartedAt: t0, EndedAt: t0.Add(3 * time.Second), ExitCode: 100, Status: codersdk.AgentScriptStatusExitFailure}))
	require.NoError(t, agent.PostAgentScriptCompleted(ctx, codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 2, DisplayName: "Sync",
		Stage: codersdk.AgentScriptStageStart, StartedAt: t0, EndedAt: t0.Add(time.Second), Status: codersdk.AgentScriptStatusOK}))
	// A later run of Sync, on its schedule, replaces the first.
	require.NoError(t, agent.PostAgentScriptCompleted(ctx, codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 2, DisplayName: "Sync",
		Stage: codersdk.AgentScriptStageCron, StartedAt: t0.Add(time.Minute), EndedAt: t0.Add(time.Minute + 5*time.Second), ExitCode: -1, Status: codersdk.AgentScriptStatusTimedOut}))

	a, err = owner.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	require.Equal(t, &codersdk.WorkspaceAgentScriptRun{Stage: codersdk.AgentScriptStageStart, Status: codersdk.AgentScriptStatusExitFailure,
		ExitCode: 100, StartedAt: t0, EndedAt: t0.Add(3 * time.Second)}, utcRun(a.Scripts[0].LastRun))
	require.Nil(t, a.Scripts[1].LastRun, "Backup never ran")
	require.Equal(t, &codersdk.WorkspaceAgentScriptRun{Stage: codersdk.AgentScriptStageCron, Status: codersdk.AgentScriptStatusTimedOut,
		ExitCode: -1, StartedAt: t0.Add(time.Minute), EndedAt: t0.Add(time.Minute + 5*time.Second)}, utcRun(a.Scripts[2].LastRun))

	list, err := owner.Workspaces(ctx, codersdk.WorkspaceFilter{})
	require.NoError(t, err)
	require.Len(t, list.Workspaces, 1)
	require.Equal(t, a.Scripts, list.Workspaces[0].LatestBuild.Resources[0].Agents[0].Scripts)
}

func utcRun(r *codersdk.WorkspaceAgentScriptRun) *codersdk.WorkspaceAgentScriptRun {
	if r == nil {
		return nil
	}
	c := *r
	c.StartedAt, c.EndedAt = c.StartedAt.UTC(), c.EndedAt.UTC()
	return &c
}

// An agent whose scripts none block login is "non-blocking"; one without
// scripts answers [] (not null).
func TestAgentScriptsBehavior(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	owner, _, agentID := scriptsWorkspace(t, []codersdk.ProvisionerScript{
		{DisplayName: "Stop only blocks nothing", RunOnStop: true, StartBlocksLogin: true},
		{DisplayName: "Start", RunOnStart: true},
	})
	a, err := owner.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	require.Equal(t, codersdk.StartupScriptBehaviorNonBlocking, a.StartupScriptBehavior)

	owner, _, agentID = scriptsWorkspace(t, nil)
	res, err := owner.Request(ctx, http.MethodGet, "/api/v2/workspaceagents/"+agentID.String(), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	var raw map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&raw))
	require.Equal(t, []any{}, raw["scripts"])
	require.Equal(t, "non-blocking", raw["startup_script_behavior"])
}

// Bad reports are refused with 400 naming each bad field, and nothing is
// stored.
func TestAgentScriptCompletedBadInput(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	owner, agent, agentID := scriptsWorkspace(t, scriptItems)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	good := codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 0, DisplayName: "Install", Stage: codersdk.AgentScriptStageStart,
		StartedAt: t0, EndedAt: t0.Add(time.Second), Status: codersdk.AgentScriptStatusOK}
	cases := []struct {
		name   string
		change func(*codersdk.PostAgentScriptCompletedRequest)
		fields []string
	}{
		{"unknown index", func(r *codersdk.PostAgentScriptCompletedRequest) { r.ScriptIndex = 3 }, []string{"script_index"}},
		{"negative index", func(r *codersdk.PostAgentScriptCompletedRequest) { r.ScriptIndex = -1 }, []string{"script_index"}},
		{"another script's name", func(r *codersdk.PostAgentScriptCompletedRequest) { r.DisplayName = "Backup" }, []string{"display_name"}},
		{"bad status", func(r *codersdk.PostAgentScriptCompletedRequest) { r.Status = "crashed" }, []string{"status"}},
		{"no status", func(r *codersdk.PostAgentScriptCompletedRequest) { r.Status = "" }, []string{"status"}},
		{"bad stage", func(r *codersdk.PostAgentScriptCompletedRequest) { r.Stage = "boot" }, []string{"stage"}},
		{"stage the script does not run at", func(r *codersdk.PostAgentScriptCompletedRequest) { r.Stage = codersdk.AgentScriptStageCron }, []string{"stage"}},
		{"ended before started", func(r *codersdk.PostAgentScriptCompletedRequest) { r.EndedAt = t0.Add(-time.Millisecond) }, []string{"ended_at"}},
		{"no times", func(r *codersdk.PostAgentScriptCompletedRequest) { r.StartedAt, r.EndedAt = time.Time{}, time.Time{} }, []string{"started_at", "ended_at"}},
		{"several at once", func(r *codersdk.PostAgentScriptCompletedRequest) { r.ScriptIndex, r.Status = 9, "x" }, []string{"script_index", "status"}},
	}
	for _, c := range cases {
		req := good
		c.change(&req)
		err := agent.PostAgentScriptCompleted(ctx, req)
		var apiErr *codersdk.Error
		require.True(t, errors.As(err, &apiErr), "%s: %v", c.name, err)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode(), c.name)
		var fields []string
		for _, v := range apiErr.Validations {
			fields = append(fields, v.Field)
		}
		require.ElementsMatch(t, c.fields, fields, "%s: %v", c.name, apiErr.Validations)
	}
	a, err := owner.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	for _, s := range a.Scripts {
		require.Nil(t, s.LastRun, "refused reports store nothing")
	}
	// The good report is accepted, so the refusals were the changes'.
	require.NoError(t, agent.PostAgentScriptCompleted(ctx, good))
}
