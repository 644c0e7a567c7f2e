package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// stoppingWorkspace is a running workspace with a real agent whose stop
// build has been queued, as `coder stop` does before Terraform stops the
// machine; Terraform's stopping it is the agent's context ending (SIGTERM
// in `coder agent`).
type stoppingWorkspace struct {
	owner   *codersdk.Client
	agentID uuid.UUID
	// sigterm ends the agent's context; done receives Run's result.
	sigterm context.CancelFunc
	done    chan error
	// completeStop completes the stop build, as the daemon does once the
	// machine is gone.
	completeStop func()
}

func newStoppingWorkspace(t *testing.T, scripts []codersdk.ProvisionerScript) *stoppingWorkspace {
	t.Helper()
	owner, agentID, token := setupWorkspace(t, nil, scripts)
	ctx := testutil.Context(t, time.Minute)
	client := codersdk.New(owner.URL)
	client.SetSessionToken(token)
	runCtx, cancel := context.WithCancel(context.Background())
	sw := &stoppingWorkspace{owner: owner, agentID: agentID, sigterm: cancel, done: make(chan error, 1)}
	go func() { sw.done <- agent.New(agent.Options{Client: client, Logger: testutil.Logger(t)}).Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-sw.done:
		case <-time.After(time.Minute):
			t.Error("agent did not stop")
		}
	})
	awaitLifecycle(t, owner, agentID, codersdk.WorkspaceAgentLifecycleReady)

	ws, err := owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "ws")
	require.NoError(t, err)
	b, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	sw.completeStop = func() {
		coderdtest.CompleteBuildWith(t, coderdtest.DaemonClient(owner), b.ID, nil)
	}
	return sw
}

// stop sends the agent its SIGTERM and waits until Run returned.
func (sw *stoppingWorkspace) stop(t *testing.T) {
	t.Helper()
	sw.sigterm()
	select {
	case err := <-sw.done:
		require.NoError(t, err)
		sw.done <- err // for the cleanup
	case <-time.After(time.Minute):
		t.Fatal("agent did not stop")
	}
}

// logsBySource returns the agent's logs as source -> outputs.
func logsBySource(t *testing.T, c *codersdk.Client, agentID uuid.UUID) map[string][]string {
	t.Helper()
	logs, err := c.WorkspaceAgentLogs(testutil.Context(t, time.Minute), agentID, 0)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, l := range logs {
		out[l.Source] = append(out[l.Source], l.Output)
	}
	return out
}

// When the workspace stops, the agent runs its stop scripts (the legacy
// shutdown_script and run_on_stop coder_scripts, together) before it
// exits: the lifecycle is shutting_down while they run and off after, and
// their output is in the agent's logs under their names; all while the
// stop build runs, so coderd must still take the reports of an agent
// whose build is no longer the latest.
func TestAgentStopScripts(t *testing.T) {
	t.Parallel()
	release := filepath.Join(t.TempDir(), "release")
	sw := newStoppingWorkspace(t, []codersdk.ProvisionerScript{
		{DisplayName: "Startup Script", Script: "echo started", RunOnStart: true},
		{DisplayName: "Shutdown Script", Script: `echo "bye from $CODER_WORKSPACE_AGENT_NAME"`, RunOnStop: true},
		{DisplayName: "Backup", Script: `echo backing up; while [ ! -e "` + release + `" ]; do sleep 0.05; done; echo backed up`, RunOnStop: true},
	})
	require.NotContains(t, logsBySource(t, sw.owner, sw.agentID), "Shutdown Script", "stop scripts do not run at start")

	sw.sigterm()
	awaitLifecycle(t, sw.owner, sw.agentID, codersdk.WorkspaceAgentLifecycleShuttingDown)
	select {
	case <-sw.done:
		t.Fatal("the agent exited before its stop scripts ended")
	default:
	}
	require.NoError(t, os.WriteFile(release, nil, 0o600))
	sw.stop(t)
	awaitLifecycle(t, sw.owner, sw.agentID, codersdk.WorkspaceAgentLifecycleOff)
	logs := logsBySource(t, sw.owner, sw.agentID)
	require.Equal(t, []string{"started"}, logs["Startup Script"])
	require.Equal(t, []string{"bye from main"}, logs["Shutdown Script"])
	require.Equal(t, []string{"backing up", "backed up"}, logs["Backup"])
	// How each stop script ended reached the API too.
	a, err := sw.owner.WorkspaceAgent(testutil.Context(t, time.Minute), sw.agentID)
	require.NoError(t, err)
	runs := map[string]codersdk.WorkspaceAgentScriptRun{}
	for _, s := range a.Scripts {
		if s.LastRun != nil {
			runs[s.DisplayName] = *s.LastRun
		}
	}
	for _, name := range []string{"Shutdown Script", "Backup"} {
		require.Equal(t, codersdk.AgentScriptStageStop, runs[name].Stage, name)
		require.Equal(t, codersdk.AgentScriptStatusOK, runs[name].Status, name)
	}

	sw.completeStop()
}

// A stop script that fails leaves the agent at shutdown_error, one past
// its timeout at shutdown_timeout (the script killed); either way the
// agent exits and its output is kept.
func TestAgentStopScriptFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script codersdk.ProvisionerScript
		want   codersdk.WorkspaceAgentLifecycle
		output []string
	}{
		{"Error", codersdk.ProvisionerScript{DisplayName: "Shutdown Script", Script: "echo cannot; exit 3", RunOnStop: true},
			codersdk.WorkspaceAgentLifecycleShutdownError, []string{"cannot", "Shutdown Script failed: exit status 3"}},
		{"Timeout", codersdk.ProvisionerScript{DisplayName: "Shutdown Script", Script: "echo waiting; exec sleep 600", RunOnStop: true, TimeoutSeconds: 1},
			codersdk.WorkspaceAgentLifecycleShutdownTimeout, []string{"waiting", "Shutdown Script timed out after 1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sw := newStoppingWorkspace(t, []codersdk.ProvisionerScript{tc.script})
			sw.stop(t)
			awaitLifecycle(t, sw.owner, sw.agentID, tc.want)
			require.Equal(t, tc.output, logsBySource(t, sw.owner, sw.agentID)["Shutdown Script"])
			sw.completeStop()
		})
	}
}
