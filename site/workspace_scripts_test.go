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

// TestWorkspacePageAgentScripts: the agent card in the polled status
// fragment lists each script, when it runs, and its last run's status
// ("not run yet" before the agent reported one), following new reports.
func TestWorkspacePageAgentScripts(t *testing.T) {
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
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Scripts: []codersdk.ProvisionerScript{
			{DisplayName: "Install <tools>", Script: "true", RunOnStart: true, StartBlocksLogin: true},
			{DisplayName: "Sync", Script: "true", Cron: "0 * * * * *"},
		}}}}})
	agent := codersdk.New(srv.URL)
	agent.SetSessionToken(token)

	b := (&dashboard{URL: srv.URL, Client: client, Server: srv}).browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)
	itemRe := regexp.MustCompile(`(?s)<li data-script="([^"]*)">(.*?)</li>`)
	statusRe := regexp.MustCompile(`data-script-status="([^"]*)"`)
	tagRe := regexp.MustCompile(`<[^>]+>`)
	spaceRe := regexp.MustCompile(`\s+`)
	// scripts maps name -> [status attribute, shown text].
	scripts := func() map[string][2]string {
		t.Helper()
		p := b.get("/@admin/ws?partial=status")
		require.Equal(t, http.StatusOK, p.Status, p.Body)
		out := map[string][2]string{}
		for _, m := range itemRe.FindAllStringSubmatch(p.Body, -1) {
			st := statusRe.FindStringSubmatch(m[2])
			require.NotNil(t, st, m[2])
			text := spaceRe.ReplaceAllString(html.UnescapeString(tagRe.ReplaceAllString(m[2], "")), " ")
			out[html.UnescapeString(m[1])] = [2]string{st[1], text}
		}
		return out
	}
	require.Equal(t, map[string][2]string{
		"Install <tools>": {"", "Install <tools> start (blocks login) not run yet"},
		"Sync":            {"", "Sync cron 0 * * * * * not run yet"},
	}, scripts())

	ended := time.Now()
	require.NoError(t, agent.PostAgentScriptCompleted(ctx, codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 0, DisplayName: "Install <tools>",
		Stage: codersdk.AgentScriptStageStart, Status: codersdk.AgentScriptStatusExitFailure, ExitCode: 2, StartedAt: ended.Add(-1500 * time.Millisecond), EndedAt: ended}))
	got := scripts()
	require.Equal(t, "exit_failure", got["Install <tools>"][0])
	require.Equal(t, "Install <tools> start (blocks login) failed (exit 2) 1.5s · just now", got["Install <tools>"][1])
	require.Equal(t, "", got["Sync"][0])
}
