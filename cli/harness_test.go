package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// This file is the one harness of the CLI's tests: every test runs `coder`
// in-process through it, in the foreground (run, ok, fails) or the
// background (start, then wait and waitFor), with a private config
// directory, its own environment variables and stdin.

// cliEnv is one user's CLI: a private --global-config directory, the
// environment variables the CLI sees instead of the process's own, and
// stdin (empty when nil: not a terminal).
type cliEnv struct {
	t         *testing.T
	ctx       context.Context
	configDir string
	vars      map[string]string
	stdin     io.Reader
}

func newEnv(t *testing.T) *cliEnv {
	return &cliEnv{t: t, ctx: testutil.Context(t, testutil.WaitLong), configDir: t.TempDir(), vars: map[string]string{}}
}

// invocation is one command, running or ended: its output, exit code and
// the error its command returned (nil on success).
type invocation struct {
	stdout, stderr testutil.LockedBuffer
	done           chan struct{}
	code           int
	err            error
}

// start runs `coder args...` in the background until ctx ends, as Main
// would, keeping the command's error too. stdin nil is e.stdin (nil:
// empty, not a terminal).
func (e *cliEnv) start(ctx context.Context, stdin io.Reader, args ...string) *invocation {
	inv := &invocation{done: make(chan struct{})}
	if stdin == nil {
		stdin = e.stdin
	}
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	args = append([]string{"--global-config", e.configDir}, args...)
	getenv := func(k string) string { return e.vars[k] }
	go func() {
		defer close(inv.done)
		inv.err = execute(ctx, args, stdin, &inv.stdout, &inv.stderr, getenv)
		inv.code = exitCode(inv.err, &inv.stderr)
	}()
	return inv
}

// wait returns the exit code once the command ends.
func (inv *invocation) wait(t *testing.T, ctx context.Context) int {
	t.Helper()
	select {
	case <-inv.done:
		return inv.code
	case <-ctx.Done():
		t.Fatalf("command did not end: %v\nstdout:\n%s\nstderr:\n%s", ctx.Err(), inv.stdout.String(), inv.stderr.String())
		return -1
	}
}

// waitFor waits until s appears in w (the command printed it).
func (inv *invocation) waitFor(t *testing.T, w *testutil.LockedBuffer, s string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(w.String(), s) }, time.Minute, 10*time.Millisecond,
		"waiting for %q\nstdout:\n%s\nstderr:\n%s", s, inv.stdout.String(), inv.stderr.String())
}

// result is an ended command.
type result struct {
	code           int
	stdout, stderr string
	err            error
}

// exec runs `coder args...` to its end within ctx.
func (e *cliEnv) exec(t *testing.T, ctx context.Context, stdin io.Reader, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	inv := e.start(ctx, stdin, args...)
	code = inv.wait(t, ctx)
	return code, inv.stdout.String(), inv.stderr.String()
}

// run runs `coder args...` to its end within the env's context.
func (e *cliEnv) run(args ...string) result {
	e.t.Helper()
	inv := e.start(e.ctx, nil, args...)
	code := inv.wait(e.t, e.ctx)
	return result{code: code, stdout: inv.stdout.String(), stderr: inv.stderr.String(), err: inv.err}
}

// ok runs and requires success; it returns stdout.
func (e *cliEnv) ok(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	require.Zero(e.t, r.code, "coder %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r.stdout
}

// fails runs, requires failure, and returns stderr.
func (e *cliEnv) fails(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	require.NotZero(e.t, r.code, "coder %s should fail\nstdout: %s", strings.Join(args, " "), r.stdout)
	return r.stderr
}

// saved is a file the CLI keeps in its config directory.
func (e *cliEnv) saved(name string) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.configDir, name))
	require.NoError(e.t, err)
	return strings.TrimSpace(string(b))
}

// loginAs saves url and token as 'coder login' leaves them.
func (e *cliEnv) loginAs(url, token string) *cliEnv {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(filepath.Join(e.configDir, "url"), []byte(url), 0o600))
	require.NoError(e.t, os.WriteFile(filepath.Join(e.configDir, "session"), []byte(token), 0o600))
	return e
}
