package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// gatedScript is a startup script that waits for the file gate, then
// writes "ready" to the file out. It never finishes before the test lets
// it, so what a command sees tells whether `coder ssh` waited.
func gatedScript(name, gate, out string, blocks bool) codersdk.ProvisionerScript {
	return codersdk.ProvisionerScript{DisplayName: name, RunOnStart: true, StartBlocksLogin: blocks,
		Script: "while [ ! -e '" + gate + "' ]; do sleep 0.05; done; echo ready > '" + out + "'"}
}

// With --wait auto (the default), a script that blocks login holds the
// command back until it has finished: the command sees its file. A
// non-blocking script running beside it does not hold it back.
func TestSSHWaitsForScriptsThatBlockLogin(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	dir := t.TempDir()
	gate, out := filepath.Join(dir, "gate"), filepath.Join(dir, "out")
	never := filepath.Join(dir, "never") // the other script's gate, never opened
	tokens := d.createWorkspace("ws", testAgent{name: "main", scripts: []codersdk.ProvisionerScript{
		gatedScript("Install tools", gate, out, true),
		gatedScript("Warm caches", never, filepath.Join(dir, "caches"), false),
	}})
	d.startAgent(tokens["main"])
	ctx := testutil.Context(t, 2*time.Minute)
	r := d.start(ctx, nil, "ssh", "ws", "--", "cat '"+out+"'")
	r.waitFor(t, &r.stderr, `Waiting for startup scripts that block login: Install tools...`)
	_, err := os.Stat(out)
	require.True(t, os.IsNotExist(err), "the script has not run past its gate")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Equal(t, "ready\n", r.stdout.String(), "the command ran after the blocking script")
	stderr := r.stderr.String()
	require.Contains(t, stderr, "Startup scripts that block login are done.\n")
	require.Contains(t, stderr, "Other startup scripts are still running; admin/ws may not be fully set up yet.\n")
	require.Less(t, strings.Index(stderr, "Waiting for startup scripts"), strings.Index(stderr, "are done."))
}

// With --wait auto and no script that blocks login, the command runs at
// once, while the startup script is still waiting at its gate; one line
// says the scripts are still running (none with --quiet).
func TestSSHDoesNotWaitForNonBlockingScripts(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	dir := t.TempDir()
	gate, out := filepath.Join(dir, "gate"), filepath.Join(dir, "out")
	tokens := d.createWorkspace("ws", testAgent{name: "main", scripts: []codersdk.ProvisionerScript{gatedScript("Install tools", gate, out, false)}})
	d.startAgent(tokens["main"])
	ctx := testutil.Context(t, 2*time.Minute)
	code, stdout, stderr := d.exec(t, ctx, nil, "ssh", "ws", "--", "test -e '"+out+"' && echo exists || echo missing")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "missing\n", stdout, "the command ran before the script finished")
	require.Contains(t, stderr, "Startup scripts are still running; admin/ws may not be fully set up yet.\n")
	require.NotContains(t, stderr, "Waiting for startup scripts")

	code, stdout, stderr = d.exec(t, ctx, nil, "ssh", "--quiet", "ws", "--", "test -e '"+out+"' && echo exists || echo missing")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "missing\n", stdout)
	require.Empty(t, stderr)

	// The script was only held at its gate: once opened it finishes, and
	// --wait yes still waits for it.
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	code, stdout, stderr = d.exec(t, ctx, nil, "ssh", "--wait", "yes", "ws", "--", "cat '"+out+"'")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "ready\n", stdout)
}

// A blocking script that fails prints a warning naming it, and the
// connection goes ahead.
func TestSSHWarnsWhenABlockingScriptFails(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	tokens := d.createWorkspace("ws", testAgent{name: "main", scripts: []codersdk.ProvisionerScript{
		{DisplayName: "Install tools", RunOnStart: true, StartBlocksLogin: true, Script: "exit 5"},
	}})
	d.startAgent(tokens["main"])
	ctx := testutil.Context(t, 2*time.Minute)
	code, stdout, stderr := d.exec(t, ctx, nil, "ssh", "ws", "--", "echo", "in")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "in\n", stdout)
	// Which warning depends on whether coderd had the script's run or
	// the agent's start_error first; both say the workspace may be
	// incomplete.
	require.Regexp(t, `Warning: (startup script "Install tools" of admin/ws failed \(exit 5\)|a startup script of admin/ws failed); the workspace may be incomplete`, stderr)
}
