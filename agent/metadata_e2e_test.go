package agent_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// A real agent against a real coderd: its metadata scripts run in the
// agent's directory with the workspace environment, and a user watching
// the agent's metadata sees the values and then a change.
func TestMetadataThroughCoderd(t *testing.T) {
	t.Parallel()
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
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "value"), []byte("first\n"), 0o600))
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Directory: dir,
			Env: map[string]string{"GREETING": "hello"},
			Metadata: []codersdk.ProvisionerAgentMetadata{
				{Key: "file", DisplayName: "File", Script: "cat value", Interval: 1, Timeout: 5},
				{Key: "env", DisplayName: "Env", Script: `echo "$GREETING from $CODER_WORKSPACE_AGENT_NAME"`, Interval: 0},
				{Key: "fails", DisplayName: "Fails", Script: "echo nope >&2; exit 2", Interval: 0},
			}}}}})
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	agentID := ws.LatestBuild.Resources[0].Agents[0].ID

	startAgent(t, owner, token)
	values := func(md []codersdk.WorkspaceAgentMetadata) map[string]string {
		out := map[string]string{}
		for _, m := range md {
			out[m.Description.Key] = m.Result.Value + "|" + m.Result.Error
		}
		return out
	}
	// waitFor watches until the metadata shows want.
	waitFor := func(want map[string]string) {
		t.Helper()
		var last map[string]string
		err := owner.WatchWorkspaceAgentMetadata(ctx, agentID, func(md []codersdk.WorkspaceAgentMetadata) error {
			last = values(md)
			if len(last) == len(want) {
				for k, v := range want {
					if last[k] != v {
						return nil
					}
				}
				return codersdk.ErrStopWatching
			}
			return nil
		})
		require.NoError(t, err, "last metadata seen: %v", last)
	}
	waitFor(map[string]string{"file": "first|", "env": "hello from main|", "fails": "|exit status 2: nope"})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "value"), []byte("second\n"), 0o600))
	waitFor(map[string]string{"file": "second|", "env": "hello from main|", "fails": "|exit status 2: nope"})
}
