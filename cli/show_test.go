package cli

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// coder show lists what a template declared beyond the agents: resource
// metadata (sensitive values hidden) and each app with its address and
// health.
func TestShowAppsAndResourceMetadata(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tmpl := e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws, err := e.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "dev",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
	require.NoError(t, err)
	coderdtest.CompleteBuildWith(t, e.daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{
		Name: "box", Type: "docker_container",
		Metadata: []codersdk.ResourceMetadataItem{{Key: "image", Value: "ubuntu:24.04"}, {Key: "password", Value: "hunter2", Sensitive: true}},
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: uuid.NewString(), Auth: "token", OS: "linux", Arch: "amd64", TroubleshootingURL: "https://wiki.example.com/agent-help", DisplayApps: &codersdk.ProvisionerDisplayApps{VSCode: true, VSCodeInsiders: true, PortForwardingHelper: true}, Apps: []codersdk.ProvisionerApp{
			{Slug: "files", DisplayName: "Files", URL: "http://localhost:8080", Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:8080", Interval: 5, Threshold: 3}},
			{Slug: "docs", DisplayName: "Docs", URL: "https://example.com/docs", External: true, Share: "public"},
			{Slug: "htop", DisplayName: "htop", Command: "htop"},
			{Slug: "secret", DisplayName: "Hidden one", URL: "http://localhost:9", Hidden: true},
		}}},
	}})

	code, stdout, stderr := e.exec(t, ctx, nil, "show", "dev")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "docker_container.box:\n  image: ubuntu:24.04\n  password: (sensitive)\n")
	require.NotContains(t, stdout, "hunter2")
	require.Contains(t, stdout, "Agent main apps:")
	require.Regexp(t, `Files\s+`+regexp.QuoteMeta(e.owner.URL.String())+`/@admin/dev\.main/apps/files/\s+initializing\s+owner`, stdout)
	require.Regexp(t, `Docs\s+https://example\.com/docs\s+-\s+public`, stdout)
	require.Regexp(t, `htop\s+\(runs a command: open it from the terminal\)`, stdout)
	require.NotContains(t, stdout, "Hidden one")
	require.Contains(t, stdout, "Agent main is connecting; the template's troubleshooting guide: https://wiki.example.com/agent-help")
	require.Contains(t, stdout, "Agent main: the template hides web_terminal, ssh_helper from the dashboard (display_apps)")
}

// coder show lists each agent's scripts: when they run (blocking login or
// not, at stop, on a schedule) and how the last run went, or that there
// was none.
func TestShowScripts(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tmpl := e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws, err := e.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "dev",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, e.daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{
		Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Scripts: []codersdk.ProvisionerScript{
			{DisplayName: "Install tools", Script: "true", RunOnStart: true, StartBlocksLogin: true},
			{DisplayName: "Dotfiles", Script: "true", RunOnStart: true},
			{DisplayName: "Backup", Script: "true", RunOnStop: true},
			{DisplayName: "Sync", Script: "true", Cron: "0 */5 * * * *"},
		}}},
	}})
	agent := codersdk.New(e.owner.URL)
	agent.SetSessionToken(token)
	ended := time.Now().Add(-5*time.Minute - 10*time.Second)
	for _, r := range []codersdk.PostAgentScriptCompletedRequest{
		{ScriptIndex: 0, DisplayName: "Install tools", Stage: codersdk.AgentScriptStageStart, Status: codersdk.AgentScriptStatusOK,
			StartedAt: ended.Add(-3200 * time.Millisecond), EndedAt: ended},
		{ScriptIndex: 1, DisplayName: "Dotfiles", Stage: codersdk.AgentScriptStageStart, Status: codersdk.AgentScriptStatusExitFailure, ExitCode: 3,
			StartedAt: ended.Add(-400 * time.Millisecond), EndedAt: ended},
		{ScriptIndex: 3, DisplayName: "Sync", Stage: codersdk.AgentScriptStageCron, Status: codersdk.AgentScriptStatusTimedOut, ExitCode: -1,
			StartedAt: ended.Add(-65 * time.Second), EndedAt: ended},
	} {
		require.NoError(t, agent.PostAgentScriptCompleted(ctx, r))
	}

	code, stdout, stderr := e.exec(t, ctx, nil, "show", "dev")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "\nAgent main scripts (startup: blocking):\n"+
		"SCRIPT          RUNS                   LAST RUN\n"+
		"Install tools   start (blocks login)   ok in 3.2s (start, 5m ago)\n"+
		"Dotfiles        start                  failed, exit 3, after 400ms (start, 5m ago)\n"+
		"Backup          stop                   not run yet\n"+
		"Sync            cron 0 */5 * * * *     timed out after 1m5s (cron, 5m ago)\n")
}
