package coderd_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// While a workspace's stop (or delete) build runs, the agent it stops may
// still report its shutdown: the lifecycle and the stop scripts' output
// reach the API. Nothing else, and nothing once that build completed.
func TestAgentReportsShutdownDuringStopBuild(t *testing.T) {
	t.Parallel()
	for _, transition := range []codersdk.WorkspaceTransition{codersdk.WorkspaceTransitionStop, codersdk.WorkspaceTransitionDelete} {
		t.Run(string(transition), func(t *testing.T) {
			t.Parallel()
			owner, daemon, org, _ := setupQueue(t, nil)
			ctx := testutil.Context(t, time.Minute)
			v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
			coderdtest.CompleteImport(t, daemon, nil)
			tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
			require.NoError(t, err)
			ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
			require.NoError(t, err)
			token := uuid.NewString()
			coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, token)
			ws, err = owner.Workspace(ctx, ws.ID)
			require.NoError(t, err)
			agentID := ws.LatestBuild.Resources[0].Agents[0].ID
			agent := codersdk.New(owner.URL)
			agent.SetSessionToken(token)
			lifecycle := func(s codersdk.WorkspaceAgentLifecycle) error {
				return agent.PostLifecycle(ctx, codersdk.PostLifecycleRequest{State: s})
			}
			require.NoError(t, lifecycle(codersdk.WorkspaceAgentLifecycleReady))

			b, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: transition})
			require.NoError(t, err)
			require.NoError(t, lifecycle(codersdk.WorkspaceAgentLifecycleShuttingDown))
			require.NoError(t, agent.PatchLogs(ctx, codersdk.PatchLogsRequest{Logs: []codersdk.AgentLog{{Output: "bye", Source: "Shutdown Script"}}}))
			require.NoError(t, lifecycle(codersdk.WorkspaceAgentLifecycleOff))
			_, err = agent.AgentManifest(ctx)
			require.True(t, codersdk.IsStatus(err, http.StatusUnauthorized), "only shutdown reports: %v", err)

			got, err := owner.WorkspaceAgent(ctx, agentID)
			require.NoError(t, err)
			require.Equal(t, codersdk.WorkspaceAgentLifecycleOff, got.LifecycleState)
			logs, err := owner.WorkspaceAgentLogs(ctx, agentID, 0)
			require.NoError(t, err)
			require.Len(t, logs, 1)
			require.Equal(t, "bye", logs[0].Output)
			require.Equal(t, "Shutdown Script", logs[0].Source)

			coderdtest.CompleteBuildWith(t, daemon, b.ID, nil)
			err = lifecycle(codersdk.WorkspaceAgentLifecycleShutdownError)
			require.True(t, codersdk.IsStatus(err, http.StatusUnauthorized), "the stop build completed: %v", err)
		})
	}
}
