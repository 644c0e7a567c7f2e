package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// netDeployment is a real coderd (with its DERP and STUN on loopback) and
// a CLI config dir logged in as its owner. Workspaces are built by the
// test playing the provisioner daemon; their agents run in this process,
// so "inside the workspace" is this machine's loopback.
type netDeployment struct {
	*cliEnv
	t        *testing.T
	owner    *codersdk.Client
	daemon   *codersdk.Client
	template codersdk.Template
}

// testAgent is one coder_agent of a test workspace.
type testAgent struct {
	name    string
	scripts []codersdk.ProvisionerScript
}

func newNetDeployment(t *testing.T, opts *coderdtest.Options) *netDeployment {
	t.Helper()
	if opts == nil {
		opts = &coderdtest.Options{}
	}
	opts.ProvisionerPSK = coderdtest.TestPSK
	owner, _ := coderdtest.New(t, opts)
	first := coderdtest.CreateFirstUser(t, owner)
	d := &netDeployment{cliEnv: newEnv(t), t: t, owner: owner, daemon: coderdtest.DaemonClient(owner)}
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, d.daemon, nil)
	var err error
	d.template, err = owner.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "net", VersionID: v.ID})
	require.NoError(t, err)
	d.loginAs(owner.URL.String(), owner.SessionToken())
	return d
}

// createWorkspace makes a running workspace whose build reported agents
// (one "main" agent when none are given) and returns their tokens by name.
func (d *netDeployment) createWorkspace(name string, agents ...testAgent) map[string]string {
	d.t.Helper()
	ctx := testutil.Context(d.t, time.Minute)
	if len(agents) == 0 {
		agents = []testAgent{{name: "main"}}
	}
	ws, err := d.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: d.template.ID, Name: name})
	require.NoError(d.t, err)
	tokens := map[string]string{}
	var pa []codersdk.ProvisionerAgent
	for _, a := range agents {
		tokens[a.name] = uuid.NewString()
		pa = append(pa, codersdk.ProvisionerAgent{Name: a.name, Token: tokens[a.name], Auth: "token", OS: "linux", Arch: "amd64",
			Directory: d.t.TempDir(), Scripts: a.scripts})
	}
	daemonID := uuid.New()
	job := coderdtest.AcquireJob(d.t, d.daemon, daemonID, nil)
	require.NotNil(d.t, job.WorkspaceBuild)
	require.Equal(d.t, ws.Name, job.WorkspaceBuild.WorkspaceName, "the job is this workspace's build")
	require.NoError(d.t, d.daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID, WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{
		State: []byte("{}"), Resources: []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: pa}},
	}}))
	return tokens
}

// stopWorkspace runs a stop build to its end.
func (d *netDeployment) stopWorkspace(name string) {
	d.t.Helper()
	ctx := testutil.Context(d.t, time.Minute)
	ws, err := d.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, name)
	require.NoError(d.t, err)
	_, err = d.owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(d.t, err)
	daemonID := uuid.New()
	job := coderdtest.AcquireJob(d.t, d.daemon, daemonID, nil)
	require.NoError(d.t, d.daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID,
		WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte("{}")}}))
}

// startAgent runs an agent with token until the test ends.
func (d *netDeployment) startAgent(token string) {
	d.t.Helper()
	client := codersdk.New(d.owner.URL)
	client.SetSessionToken(token)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.New(agent.Options{Client: client, Logger: testutil.Logger(d.t)}).Run(ctx)
	}()
	d.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(d.t, err)
		case <-time.After(time.Minute):
			d.t.Error("agent did not stop")
		}
	})
}

func TestSSHExec(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	tokens := d.createWorkspace("ws")
	d.startAgent(tokens["main"])

	cases := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
	}{
		{name: "echo", args: []string{"ws", "--", "echo", "ok"}, stdout: "ok\n"},
		{name: "exit code", args: []string{"ws", "--", "sh", "-c", "exit 7"}, code: 7},
		{name: "argument list is kept", args: []string{"ws", "--", "printf", "%s|", "a b", "it's", "$HOME"}, stdout: "a b|it's|$HOME|"},
		{name: "one argument is a command line", args: []string{"ws", "--", "echo abc | tr a-c x-z"}, stdout: "xyz\n"},
		{name: "stdin", args: []string{"ws", "--", "cat"}, stdin: "hello\nworld\n", stdout: "hello\nworld\n"},
		{name: "env", args: []string{"ws", "-e", "GREETING=hi there", "--", "echo $GREETING"}, stdout: "hi there\n"},
		{name: "owner and agent named", args: []string{"admin/ws.main", "--", "echo", "named"}, stdout: "named\n"},
		{name: "stderr stays apart", args: []string{"ws", "--", "echo out; echo err >&2; exit 3"}, code: 3, stdout: "out\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, 2*time.Minute)
			code, stdout, stderr := d.exec(t, ctx, strings.NewReader(c.stdin), append([]string{"ssh"}, c.args...)...)
			require.Equal(t, c.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			require.Equal(t, c.stdout, stdout, "stderr: %s", stderr)
			require.NotContains(t, stderr, "timing:")
		})
	}
	// --debug-timings prints the phases of the connection on stderr, in
	// the order they happen, and leaves stdout to the command.
	t.Run("debug timings", func(t *testing.T) {
		t.Parallel()
		ctx := testutil.Context(t, 2*time.Minute)
		code, stdout, stderr := d.exec(t, ctx, nil, "ssh", "--debug-timings", "ws", "--", "echo", "timed")
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "timed\n", stdout)
		at := func(phase string) int {
			i := strings.Index(stderr, "  "+phase)
			require.GreaterOrEqual(t, i, 0, "phase %q missing:\n%s", phase, stderr)
			return i
		}
		last := -1
		for _, phase := range []string{"main started", "config read", "api: workspace looked up", "api: connection info fetched",
			"tailnet: conn started", "api: coordinator connected",
			"tailnet: agent reachable", "ssh: TCP connected", "ssh: handshake done", "ssh: session started", "ssh: command exited", "tailnet: closed"} {
			i := at(phase)
			require.Greater(t, i, last, "phase %q out of order:\n%s", phase, stderr)
			last = i
		}
		// Our node going out and the agent's coming in race each other
		// (whichever of the DERP connection and the coordinator's answer
		// is first): both sit between the coordinator connection and the
		// agent answering, in either order.
		for _, phase := range []string{"tailnet: peer node received", "tailnet: node published"} {
			i := at(phase)
			require.Greater(t, i, at("api: coordinator connected"), "phase %q before the coordinator connected:\n%s", phase, stderr)
			require.Less(t, i, at("tailnet: agent reachable"), "phase %q after the agent answered:\n%s", phase, stderr)
		}
		require.Regexp(t, `(?m)^timing: +[0-9]+\.[0-9] ms  ssh: command exited$`, stderr)
	})
}

// TestSSHWaits starts `coder ssh --wait yes` before the agent runs: it
// shows that it waits for the agent, then for the startup script (which
// does not block login: yes waits for every script), then runs the
// command.
func TestSSHWaits(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	gate := filepath.Join(t.TempDir(), "go-on")
	tokens := d.createWorkspace("ws", testAgent{name: "main", scripts: []codersdk.ProvisionerScript{{
		DisplayName: "Startup Script", RunOnStart: true,
		Script: "while [ ! -e '" + gate + "' ]; do sleep 0.05; done; echo set-up > marker",
	}}})
	ctx := testutil.Context(t, 2*time.Minute)
	r := d.start(ctx, nil, "ssh", "--wait", "yes", "ws", "--", "cat marker")
	r.waitFor(t, &r.stderr, "Waiting for the agent to connect...")
	d.startAgent(tokens["main"])
	r.waitFor(t, &r.stderr, "Running startup scripts...")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Equal(t, "set-up\n", r.stdout.String(), "the command ran after the startup script")
	require.Contains(t, r.stderr.String(), "Startup scripts are done.")

	// --quiet prints no progress.
	code, stdout, stderr := d.exec(t, ctx, nil, "ssh", "-q", "ws", "--", "echo", "quiet")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "quiet\n", stdout)
	require.Empty(t, stderr)
}

func TestSSHErrors(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	d.createWorkspace("lonely") // its agent never starts
	d.createWorkspace("stopped")
	d.stopWorkspace("stopped")
	tokens := d.createWorkspace("multi", testAgent{name: "front"}, testAgent{name: "back"})
	d.startAgent(tokens["back"])

	cases := []struct {
		name string
		args []string
		want string
	}{
		{"agent never connects", []string{"lonely", "--connect-timeout", "1s"}, "agent main of workspace admin/lonely is connecting after 1s"},
		{"stopped", []string{"stopped"}, "workspace admin/stopped is stopped: start it with 'coder start stopped'"},
		{"not found", []string{"nope"}, `workspace "nope" not found`},
		{"several agents", []string{"multi"}, "workspace admin/multi has several agents (back, front): pick one with multi.AGENT"},
		{"unknown agent", []string{"multi.side"}, `workspace admin/multi has no agent "side"; its agents: back, front`},
		{"bad wait", []string{"multi.back", "--wait", "maybe"}, `"maybe" is not yes, no or auto`},
		{"bad env", []string{"multi.back", "-e", "NOEQUALS"}, `--env "NOEQUALS": want KEY=VALUE`},
		{"stdio with command", []string{"--stdio", "multi.back", "--", "ls"}, "--stdio takes no command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, time.Minute)
			code, _, stderr := d.exec(t, ctx, nil, append([]string{"ssh"}, c.args...)...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, c.want)
		})
	}

	// The named agent works.
	ctx := testutil.Context(t, time.Minute)
	code, stdout, stderr := d.exec(t, ctx, nil, "ssh", "multi.back", "--", "echo", "back")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "back\n", stdout)
}

func TestSSHBrowserOnly(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, &coderdtest.Options{BrowserOnly: true})
	d.startAgent(d.createWorkspace("ws")["main"])
	ctx := testutil.Context(t, time.Minute)
	code, _, stderr := d.exec(t, ctx, nil, "ssh", "ws", "--", "true")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "connect to admin/ws: This deployment only allows connections from the browser.")
	require.NotContains(t, stderr, "GET ", "coderd's message is shown without the request line")
}

// TestSSHTerminal runs `coder ssh` on a real pseudo-terminal: the remote
// shell gets a terminal of the same size, follows a resize (SIGWINCH), and
// the local terminal's mode is restored at the end.
func TestSSHTerminal(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	d.startAgent(d.createWorkspace("ws")["main"])
	ctx := testutil.Context(t, 2*time.Minute)

	ptmx, tty, screen := watchTerminal(t)
	require.NoError(t, pty.Setsize(tty, &pty.Winsize{Rows: 40, Cols: 100}))
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	require.NoError(t, err)

	r := &invocation{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.code = Main(ctx, []string{"--global-config", d.configDir, "ssh", "ws"}, tty, tty, &r.stderr, func(string) string { return "" })
	}()
	// The shell's answer, not the echo of the command line, holds "size=40 100".
	require.Eventually(t, func() bool {
		_, _ = io.WriteString(ptmx, "echo size=$(stty size) tty=$(tty)\r")
		return regexp.MustCompile(`size=40 100 tty=/dev/`).MatchString(screen.String())
	}, time.Minute, time.Second, "screen:\n%s\nstderr:\n%s", screen.String(), r.stderr.String())

	require.NoError(t, pty.Setsize(tty, &pty.Winsize{Rows: 50, Cols: 132}))
	require.Eventually(t, func() bool {
		// The kernel signals the terminal's foreground group, which this
		// test process is not; send the signal as a shell would get it.
		_ = unix.Kill(os.Getpid(), unix.SIGWINCH)
		_, _ = io.WriteString(ptmx, "echo size=$(stty size)\r")
		return strings.Contains(screen.String(), "size=50 132")
	}, time.Minute, time.Second, "screen:\n%s", screen.String())

	_, err = io.WriteString(ptmx, "exit 5\r")
	require.NoError(t, err)
	require.Equal(t, 5, r.wait(t, ctx), "screen:\n%s\nstderr:\n%s", screen.String(), r.stderr.String())
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	require.NoError(t, err)
	require.Equal(t, *before, *after, "the terminal leaves raw mode")
}

// watchTerminal opens a pseudo-terminal and records what it shows (the
// master side's output) in screen until the test ends.
func watchTerminal(t *testing.T) (ptmx, tty *os.File, screen *testutil.LockedBuffer) {
	t.Helper()
	ptmx, tty = openTerminal(t)
	screen = &testutil.LockedBuffer{}
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(screen, ptmx) }()
	t.Cleanup(func() {
		_ = ptmx.Close() // the poller ends the pending read
		<-copied
		_ = tty.Close()
	})
	return ptmx, tty, screen
}

// openTerminal opens a pseudo-terminal whose master side is managed by
// Go's poller (creack/pty's is left blocking once its descriptor is used),
// so closing it ends a pending read and the reader goroutine can be joined.
func openTerminal(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, tty, err := pty.Open()
	require.NoError(t, err)
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	_ = m.Close()
	require.NoError(t, err)
	require.NoError(t, unix.SetNonblock(fd, true))
	return os.NewFile(uintptr(fd), "/dev/ptmx"), tty
}
