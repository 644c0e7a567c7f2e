package agentexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPasswdShell(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "passwd")
	require.NoError(t, os.WriteFile(path, []byte("root:x:0:0:root:/root:/bin/bash\nme:x:1000:1000::/home/me:/usr/bin/zsh\nbroken:line\n"), 0o600))
	shell, err := passwdShell(path, 1000)
	require.NoError(t, err)
	require.Equal(t, "/usr/bin/zsh", shell)
	_, err = passwdShell(path, 42)
	require.ErrorContains(t, err, "uid 42 not in")
}

func TestShellCommand(t *testing.T) {
	t.Parallel()
	login := ShellCommand("/bin/sh", "")
	require.Equal(t, []string{"-sh"}, login.Args, "a login shell, as login(1) starts it")
	script := ShellCommand("/bin/sh", "echo hi")
	require.Equal(t, []string{"/bin/sh", "-c", "echo hi"}, script.Args)
}

func TestWorkingDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.Equal(t, dir, WorkingDir(dir))
	require.Equal(t, HomeDir(), WorkingDir(""))
	require.Equal(t, HomeDir(), WorkingDir(filepath.Join(dir, "missing")), "a missing directory falls back to home")
}

// A process on a terminal sees it as its tty and its size; when its owner's
// context ends, its whole group is ended (SIGKILL for one ignoring SIGHUP)
// and Wait returns only once it was reaped.
func TestPTYProcessLifecycle(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitShort)
	pty, err := OpenPTY(30, 100)
	require.NoError(t, err)
	defer pty.Close()
	cmd := ShellCommand("/bin/sh", `trap "" HUP; echo "pid=$$ size=$(stty size)"; while :; do sleep 1; done`)
	require.NoError(t, pty.Start(cmd))
	proc := NewProcess(cmd)

	var out strings.Builder
	buf := make([]byte, 256)
	for !strings.Contains(out.String(), "\n") {
		n, err := pty.Read(buf)
		require.NoError(t, err)
		out.Write(buf[:n])
	}
	require.Contains(t, out.String(), "pid="+strconv.Itoa(proc.Pid())+" size=30 100")

	wctx, cancel := context.WithCancel(ctx)
	cancel()
	err = proc.Wait(wctx)
	var exitErr interface{ Sys() any }
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, syscall.SIGKILL, exitErr.Sys().(syscall.WaitStatus).Signal())
	require.True(t, errors.Is(syscall.Kill(proc.Pid(), 0), syscall.ESRCH), "reaped")
	require.NoError(t, proc.Signal(syscall.SIGTERM), "signalling a reaped process is a no-op")

	// Close unblocks a reader.
	require.NoError(t, pty.Close())
	_, err = pty.Read(buf)
	require.Error(t, err)
}
