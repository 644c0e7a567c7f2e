package coderd_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// An agent's display_apps reach the API as the incumbent's list: the
// template's block as given, the coder provider's defaults without one,
// and [] (not null) when every app is off. The agent, workspace and build
// answers agree.
func TestAgentDisplayApps(t *testing.T) {
	t.Parallel()
	owner, daemon, org, srv := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "display", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	agent := func(name string, d *codersdk.ProvisionerDisplayApps) codersdk.ProvisionerAgent {
		return codersdk.ProvisionerAgent{Name: name, Token: uuid.NewString(), Auth: "token", OS: "linux", Arch: "amd64", DisplayApps: d}
	}
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{
		agent("defaults", nil),
		agent("custom", &codersdk.ProvisionerDisplayApps{VSCodeInsiders: true, SSHHelper: true}),
		agent("none", &codersdk.ProvisionerDisplayApps{}),
	}}})
	want := map[string][]codersdk.DisplayApp{
		"defaults": {codersdk.DisplayAppVSCodeDesktop, codersdk.DisplayAppWebTerminal, codersdk.DisplayAppSSH, codersdk.DisplayAppPortForward},
		"custom":   {codersdk.DisplayAppVSCodeInsiders, codersdk.DisplayAppSSH},
		"none":     {},
	}

	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	build, err := owner.WorkspaceBuild(ctx, ws.LatestBuild.ID)
	require.NoError(t, err)
	for _, answer := range []codersdk.WorkspaceBuild{ws.LatestBuild, build} {
		got := map[string][]codersdk.DisplayApp{}
		for _, a := range answer.Resources[0].Agents {
			got[a.Name] = a.DisplayApps
			byID, err := owner.WorkspaceAgent(ctx, a.ID)
			require.NoError(t, err)
			require.Equal(t, a.DisplayApps, byID.DisplayApps, "agent %s by ID", a.Name)
		}
		require.Equal(t, want, got)
	}

	// On the wire: the incumbent's field name, and [] rather than null.
	for _, a := range ws.LatestBuild.Resources[0].Agents {
		res := call(ctx, t, srv, "GET", "/api/v2/workspaceagents/"+a.ID.String(), owner.SessionToken(), nil)
		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(res.body, &fields))
		if a.Name == "none" {
			require.JSONEq(t, `[]`, string(fields["display_apps"]))
		}
		if a.Name == "defaults" {
			require.JSONEq(t, `["vscode","web_terminal","ssh_helper","port_forwarding_helper"]`, string(fields["display_apps"]))
		}
	}
}
