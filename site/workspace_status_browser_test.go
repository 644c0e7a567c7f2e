package site_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// TestBrowserWorkspaceScriptsAndAutostop: in Chromium, the workspace page
// says when a workspace with a ttl stops, lists the agent's scripts with
// when they run, and follows a script's reported result, an agent
// metadata value and an app's health through the page's status polling
// without a reload.
func TestBrowserWorkspaceScriptsAndAutostop(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, client, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := client.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID, DefaultTTLMillis: (2 * time.Hour).Milliseconds()})
	require.NoError(t, err)
	ws, err := client.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Scripts: []codersdk.ProvisionerScript{
			{DisplayName: "Install tools", Script: "true", RunOnStart: true, StartBlocksLogin: true},
			{DisplayName: "Sync", Script: "true", Cron: "0 * * * * *"},
		}, Metadata: []codersdk.ProvisionerAgentMetadata{{Key: "cpu", DisplayName: "CPU", Script: "coder stat cpu", Interval: 10, Timeout: 1}},
			Apps: []codersdk.ProvisionerApp{{Slug: "web", DisplayName: "Web", URL: "http://localhost:8080/",
				Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:8080/healthz", Interval: 5, Threshold: 6}}},
		}}}})

	b := sitetest.New(t, sitetest.Options{Timeout: time.Minute})
	p := b.Open(srv.URL.String()+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)
	p.Navigate(srv.URL.String() + "/@admin/ws")

	p.WaitText(`#ws-autostop`, regexp.MustCompile(`^Stops in (2h|1h 59m)$`), 30*time.Second)
	install := `li[data-script="Install tools"]`
	p.WaitText(install, regexp.MustCompile(`start \(blocks login\)\s+not run yet`), 30*time.Second)
	require.Regexp(t, `cron 0 \* \* \* \* \*\s+not run yet`, p.Text(`li[data-script="Sync"]`))

	// The agent reports a failed run; the page shows it at its next poll.
	agent := codersdk.New(srv.URL)
	agent.SetSessionToken(token)
	ended := time.Now()
	require.NoError(t, agent.PostAgentScriptCompleted(ctx, codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 0, DisplayName: "Install tools",
		Stage: codersdk.AgentScriptStageStart, Status: codersdk.AgentScriptStatusExitFailure, ExitCode: 2, StartedAt: ended.Add(-1500 * time.Millisecond), EndedAt: ended}))
	p.WaitText(install, regexp.MustCompile(`failed \(exit 2\)`), 30*time.Second)
	require.Regexp(t, `not run yet`, p.Text(`li[data-script="Sync"]`))

	// Agent metadata and app health arrive the same way.
	p.WaitText(`dd[data-metadata="cpu"]`, regexp.MustCompile(`not collected yet`), 30*time.Second)
	p.WaitText(`li[data-app="web"] [data-health]`, regexp.MustCompile(`^initializing$`), 30*time.Second)
	require.NoError(t, agent.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{
		{Key: "cpu", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Value: "12% <b>"}},
	}}))
	require.NoError(t, agent.PostWorkspaceAppHealth(ctx, codersdk.PostWorkspaceAppHealthsRequest{Healths: map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthUnhealthy}}))
	p.WaitText(`dd[data-metadata="cpu"]`, regexp.MustCompile(`^12% <b>`), 30*time.Second)
	p.WaitText(`li[data-app="web"] [data-health]`, regexp.MustCompile(`^unhealthy$`), 30*time.Second)
}
