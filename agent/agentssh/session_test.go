package agentssh_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

func TestExec(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, addr := startServer(t, agentssh.Options{
		Dir: dir,
		Env: func() []string { return []string{"CODER=true", "FROM_MANIFEST=yes"} },
	})
	ctx := testutil.Context(t, testutil.WaitShort)
	client := dial(ctx, t, addr)

	tests := []struct {
		name       string
		cmd        string
		stdin      string
		env        map[string]string
		wantStdout string
		wantStderr string
		wantStatus int    // when wantSignal is empty
		wantSignal string // SSH signal name
	}{
		{name: "Stdout", cmd: "echo hello", wantStdout: "hello\n"},
		{name: "StderrAndStatus", cmd: "echo oops >&2; exit 3", wantStderr: "oops\n", wantStatus: 3},
		{name: "Stdin", cmd: "cat; echo done", stdin: "some input\n", wantStdout: "some input\ndone\n"},
		{name: "KilledBySignal", cmd: "echo before; kill -TERM $$", wantStdout: "before\n", wantSignal: "TERM"},
		{name: "OptionsEnv", cmd: `echo "$CODER $FROM_MANIFEST"`, wantStdout: "true yes\n"},
		{name: "ClientEnv", cmd: `echo "$FOO|$CODER"`, env: map[string]string{"FOO": "bar baz", "CODER": "client"}, wantStdout: "bar baz|client\n"},
		{name: "SSHEnv", cmd: `test -n "$SSH_CONNECTION" && test -n "$SSH_CLIENT" && test -z "$SSH_TTY" && echo ok`, wantStdout: "ok\n"},
		{name: "WorkingDir", cmd: "pwd", wantStdout: dir + "\n"},
		{name: "NoTTY", cmd: "tty", wantStdout: "not a tty\n", wantStatus: 1},
		{name: "LargeOutput", cmd: "head -c 1000000 /dev/zero | tr '\\0' x", wantStdout: strings.Repeat("x", 1000000)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sess, err := client.NewSession()
			require.NoError(t, err)
			defer sess.Close()
			for k, v := range tc.env {
				require.NoError(t, sess.Setenv(k, v))
			}
			var stdout, stderr bytes.Buffer
			sess.Stdout, sess.Stderr = &stdout, &stderr
			sess.Stdin = strings.NewReader(tc.stdin)
			err = sess.Run(tc.cmd)
			assert.Equal(t, tc.wantStdout, stdout.String())
			assert.Equal(t, tc.wantStderr, stderr.String())
			if tc.wantStatus == 0 && tc.wantSignal == "" {
				require.NoError(t, err)
				return
			}
			var exitErr *gossh.ExitError
			require.ErrorAs(t, err, &exitErr)
			assert.Equal(t, tc.wantSignal, exitErr.Signal())
			if tc.wantSignal == "" {
				assert.Equal(t, tc.wantStatus, exitErr.ExitStatus())
			}
		})
	}
}

func TestSignalRequest(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{})
	sess := st.sess
	stdout, err := sess.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sess.Start("echo ready; exec sleep 1000"))
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "ready\n", line)

	require.NoError(t, sess.Signal(gossh.SIGUSR1))
	var exitErr *gossh.ExitError
	require.ErrorAs(t, sess.Wait(), &exitErr)
	require.Equal(t, "USR1", exitErr.Signal())
}

func TestSessionEndKillsProcess(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{})
	ctx, srv, sess := st.ctx, st.srv, st.sess
	stdout, err := sess.StdoutPipe()
	require.NoError(t, err)
	// The shell ignores SIGHUP, so the server has to escalate to SIGKILL.
	require.NoError(t, sess.Start(`trap "" HUP; echo $$; while :; do sleep 1; done`))
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err)
	require.Equal(t, map[string]int64{agentssh.SessionTypeExec: 1}, srv.Stats())

	require.NoError(t, sess.Close())
	waitGone(ctx, t, pid)
	require.Eventually(t, func() bool { return len(srv.Stats()) == 0 }, testutil.WaitShort, pollInterval)
}

func TestConnectionDropKillsProcess(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{})
	ctx, client, sess := st.ctx, st.client, st.sess
	require.NoError(t, sess.RequestPty("xterm", 24, 80, nil))
	stdout, err := sess.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sess.Start(`echo "pid=$$"; exec sleep 1000`))
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid=")))
	require.NoError(t, err)

	require.NoError(t, client.Close())
	waitGone(ctx, t, pid)
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{})
	ctx, srv, addr, client, sess := st.ctx, st.srv, st.addr, st.client, st.sess
	stdin, err := sess.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, sess.Start("cat"))

	// A session is active, so a Shutdown whose context is already over
	// gives up at once and leaves the session alone.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	require.ErrorIs(t, srv.Shutdown(canceled), context.Canceled)

	// No new sessions or connections are accepted any more.
	_, err = client.NewSession()
	require.Error(t, err)
	_, err = gossh.Dial("tcp", addr, &gossh.ClientConfig{HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	require.Error(t, err)

	// Once the session ends by itself, Shutdown completes.
	require.NoError(t, stdin.Close())
	require.NoError(t, sess.Wait())
	require.NoError(t, srv.Shutdown(ctx))
}

// waitGone waits until pid no longer exists (it was killed and reaped).
func waitGone(ctx context.Context, t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}, deadlineLeft(ctx), pollInterval, "process %d still exists", pid)
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	require.True(t, os.IsNotExist(err))
}
