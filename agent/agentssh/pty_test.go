package agentssh_test

import (
	"bytes"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

func TestPTYExec(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{})
	sess := st.sess
	require.NoError(t, sess.RequestPty("xterm-test", 24, 80, gossh.TerminalModes{}))
	var out bytes.Buffer
	sess.Stdout = &out
	require.NoError(t, sess.Run(`tty; echo "term=$TERM tty=$SSH_TTY"; stty size`))
	lines := strings.Split(strings.TrimSpace(out.String()), "\r\n")
	require.Len(t, lines, 3, "output %q", out.String())
	require.True(t, strings.HasPrefix(lines[0], "/dev/pts/"), "tty printed %q", lines[0])
	require.Equal(t, "term=xterm-test tty="+lines[0], lines[1])
	require.Equal(t, "24 80", lines[2])
}

func TestPTYShellWindowChange(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{Shell: "/bin/sh"})
	ctx, sess := st.ctx, st.sess
	require.NoError(t, sess.RequestPty("xterm", 40, 80, nil))
	out := &testutil.WaitBuffer{}
	sess.Stdout = out
	stdin, err := sess.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, sess.Shell())

	// Markers are printed with a quoted empty string inside, so the echoed
	// command line never matches them.
	_, err = stdin.Write([]byte("echo size-''-$(stty size)\n"))
	require.NoError(t, err)
	off := out.WaitFor(ctx, t, 0, "size--40 80")

	// Ask for a reply so the resize is known to be applied before the
	// next command runs.
	ok, err := sess.SendRequest("window-change", true, gossh.Marshal(struct {
		Columns, Rows, Width, Height uint32
	}{Columns: 100, Rows: 50}))
	require.NoError(t, err)
	require.True(t, ok)
	_, err = stdin.Write([]byte("echo size-''-$(stty size)\n"))
	require.NoError(t, err)
	out.WaitFor(ctx, t, off, "size--50 100")

	_, err = stdin.Write([]byte("exit 5\n"))
	require.NoError(t, err)
	var exitErr *gossh.ExitError
	require.ErrorAs(t, sess.Wait(), &exitErr)
	require.Equal(t, 5, exitErr.ExitStatus())
}

func TestPTYOutputNotTranslated(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{})
	sess := st.sess
	require.NoError(t, sess.RequestPty("xterm", 24, 80, nil))
	var out bytes.Buffer
	sess.Stdout = &out
	// In raw mode a bare line feed must reach the client unchanged
	// (full-screen programs use it to move the cursor down).
	require.NoError(t, sess.Run(`stty raw; printf 'a\nb\r\n'`))
	require.Equal(t, "a\nb\r\n", out.String())
}

func TestPTYBackgroundJobDoesNotHang(t *testing.T) {
	t.Parallel()
	st := newSession(t, agentssh.Options{Shell: "/bin/sh"})
	sess := st.sess
	var err error
	require.NoError(t, sess.RequestPty("xterm", 24, 80, nil))
	var out bytes.Buffer
	sess.Stdout = &out
	// The background job ignores SIGHUP and keeps the terminal open after
	// the command exits; the session must still end, with the command's
	// status and output, and leave the job running (as sshd does).
	err = sess.Run(`(trap "" HUP; exec sleep 1000) & echo "bg=$!"; exit 4`)
	var exitErr *gossh.ExitError
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, 4, exitErr.ExitStatus())
	line := strings.TrimSpace(out.String())
	require.True(t, strings.HasPrefix(line, "bg="), "output %q", line)
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "bg="))
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, 0), "background job should survive")
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
}
