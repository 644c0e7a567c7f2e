package agent_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// Every script run reaches coderd with how it ended: start scripts that
// succeed, fail, time out or leave their output open; a cron run; and a
// stop script, reported during shutdown.
func TestScriptResultsReachCoderd(t *testing.T) {
	t.Parallel()
	owner, agentID, token := setupWorkspace(t, nil, []codersdk.ProvisionerScript{
		{DisplayName: "OK", Script: "echo fine", RunOnStart: true},
		{DisplayName: "Fails", Script: "echo broken >&2; exit 3", RunOnStart: true, StartBlocksLogin: true},
		{DisplayName: "Slow", Script: "sleep 30", RunOnStart: true, TimeoutSeconds: 1},
		// The background sleep keeps the script's output open after it
		// exits 0; the agent stops waiting for it after its wait delay.
		{DisplayName: "Leaves pipes", Script: "sleep 8 &", RunOnStart: true},
		{DisplayName: "Bye", Script: "exit 4", RunOnStop: true},
		{DisplayName: "Tick", Script: "true", Cron: "* * * * * *"},
	})
	stop := startAgent(t, owner, token)
	// A timeout outranks a failure in the lifecycle.
	awaitLifecycle(t, owner, agentID, codersdk.WorkspaceAgentLifecycleStartTimeout)

	ctx := testutil.Context(t, time.Minute)
	type run struct {
		stage  codersdk.AgentScriptStage
		status codersdk.AgentScriptStatus
		code   int32
	}
	runs := func() map[string]*run {
		a, err := owner.WorkspaceAgent(ctx, agentID)
		require.NoError(t, err)
		out := map[string]*run{}
		for _, s := range a.Scripts {
			if s.LastRun == nil {
				out[s.DisplayName] = nil
				continue
			}
			require.False(t, s.LastRun.EndedAt.Before(s.LastRun.StartedAt), "%s ended before it started", s.DisplayName)
			out[s.DisplayName] = &run{s.LastRun.Stage, s.LastRun.Status, s.LastRun.ExitCode}
		}
		return out
	}
	var got map[string]*run
	require.Eventually(t, func() bool {
		got = runs()
		return got["OK"] != nil && got["Fails"] != nil && got["Slow"] != nil && got["Leaves pipes"] != nil && got["Tick"] != nil
	}, testutil.WaitLong, 50*time.Millisecond, "runs so far: %v", got)
	require.Equal(t, &run{codersdk.AgentScriptStageStart, codersdk.AgentScriptStatusOK, 0}, got["OK"])
	require.Equal(t, &run{codersdk.AgentScriptStageStart, codersdk.AgentScriptStatusExitFailure, 3}, got["Fails"])
	require.Equal(t, &run{codersdk.AgentScriptStageStart, codersdk.AgentScriptStatusTimedOut, -1}, got["Slow"])
	require.Equal(t, &run{codersdk.AgentScriptStageStart, codersdk.AgentScriptStatusPipesLeftOpen, 0}, got["Leaves pipes"])
	require.Equal(t, &run{codersdk.AgentScriptStageCron, codersdk.AgentScriptStatusOK, 0}, got["Tick"])
	require.Nil(t, got["Bye"], "the stop script has not run yet")

	// Run returns once the stop script's result was sent (or its bounded
	// flush gave up, which this test would catch).
	stop()
	require.Equal(t, &run{codersdk.AgentScriptStageStop, codersdk.AgentScriptStatusExitFailure, 4}, runs()["Bye"])
}
