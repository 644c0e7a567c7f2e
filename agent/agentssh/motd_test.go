package agentssh_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

const motdText = "Welcome to the workspace\nsecond line\n"

// motdOptions serves sessions whose home is a fresh directory (so
// ~/.hushlogin is the test's own) with a MOTD file in it.
func motdOptions(t *testing.T) (agentssh.Options, string) {
	t.Helper()
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, "motd"), []byte(motdText), 0o600))
	return agentssh.Options{Shell: "/bin/sh", Dir: home, MOTDFile: "~/motd", Env: func() []string { return []string{"HOME=" + home} }}, home
}

// loginOutput opens an interactive login (terminal, no command), lets the
// shell print a marker and exit, and returns everything the client saw.
func loginOutput(t *testing.T, opts agentssh.Options) string {
	t.Helper()
	st := newSession(t, opts)
	require.NoError(t, st.sess.RequestPty("xterm", 24, 80, nil))
	out := &testutil.WaitBuffer{}
	st.sess.Stdout = out
	stdin, err := st.sess.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, st.sess.Shell())
	_, err = stdin.Write([]byte("echo shell-''-ready; exit\n"))
	require.NoError(t, err)
	out.WaitFor(st.ctx, t, 0, "shell--ready")
	_ = st.sess.Wait()
	return out.String()
}

// An interactive login shows the MOTD first, line by line as the terminal
// expects (CRLF), then the shell; a command, even with a terminal, never
// does, and neither does a login of a user with ~/.hushlogin.
func TestMOTD(t *testing.T) {
	t.Parallel()
	t.Run("Login", func(t *testing.T) {
		t.Parallel()
		opts, _ := motdOptions(t)
		out := loginOutput(t, opts)
		require.True(t, strings.HasPrefix(out, "Welcome to the workspace\r\nsecond line\r\n"), "output %q", out)
		require.Equal(t, 1, strings.Count(out, "Welcome"), "shown once: %q", out)
	})
	t.Run("CommandWithTerminal", func(t *testing.T) {
		t.Parallel()
		opts, _ := motdOptions(t)
		st := newSession(t, opts)
		require.NoError(t, st.sess.RequestPty("xterm", 24, 80, nil))
		var out bytes.Buffer
		st.sess.Stdout = &out
		require.NoError(t, st.sess.Run("echo only-this"))
		require.Equal(t, "only-this\r\n", out.String())
	})
	t.Run("Command", func(t *testing.T) {
		t.Parallel()
		opts, _ := motdOptions(t)
		st := newSession(t, opts)
		out, err := st.sess.Output("echo only-this")
		require.NoError(t, err)
		require.Equal(t, "only-this\n", string(out))
	})
	t.Run("HushLogin", func(t *testing.T) {
		t.Parallel()
		opts, home := motdOptions(t)
		require.NoError(t, os.WriteFile(filepath.Join(home, ".hushlogin"), nil, 0o600))
		out := loginOutput(t, opts)
		require.NotContains(t, out, "Welcome", "output %q", out)
	})
	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		opts, _ := motdOptions(t)
		opts.MOTDFile = filepath.Join(t.TempDir(), "absent")
		out := loginOutput(t, opts)
		require.NotContains(t, out, "Welcome")
		require.NotContains(t, out, "absent", "a missing file is not reported to the user")
	})
	t.Run("FIFO", func(t *testing.T) {
		t.Parallel()
		opts, home := motdOptions(t)
		fifo := filepath.Join(home, "fifo")
		require.NoError(t, syscall.Mkfifo(fifo, 0o600))
		opts.MOTDFile = fifo
		out := loginOutput(t, opts) // would hang opening a FIFO nobody writes
		require.NotContains(t, out, "Welcome")
	})
	t.Run("Capped", func(t *testing.T) {
		t.Parallel()
		opts, home := motdOptions(t)
		line := strings.Repeat("x", 1023) + "\n" // 1 KiB a line
		require.NoError(t, os.WriteFile(filepath.Join(home, "motd"), []byte(strings.Repeat(line, 100)), 0o600))
		out := loginOutput(t, opts)
		require.Equal(t, 64, strings.Count(out, strings.TrimSuffix(line, "\n")+"\r\n"), "the first 64 KiB: 64 of the 100 lines")
	})
}

// The real OpenSSH client: `ssh host` (a login; -tt as stdin is not a
// terminal here) shows the MOTD, `ssh host cmd` does not.
func TestOpenSSHMOTD(t *testing.T) {
	t.Parallel()
	opts, _ := motdOptions(t)
	_, addr := startServer(t, opts)
	ctx := testutil.Context(t, testutil.WaitShort)
	host, sshOpts := openSSH(t, addr, "-p")
	ssh := func(stdin string, args ...string) (string, string, int) {
		return runTool(ctx, t, stdin, "ssh", append(append(append([]string{}, sshOpts...), args...), host)...)
	}
	stdout, stderr, code := ssh("echo shell-''-ready; exit 0\n", "-tt")
	require.Equal(t, 0, code, stderr)
	require.True(t, strings.HasPrefix(stdout, "Welcome to the workspace\r\nsecond line\r\n"), "stdout %q", stdout)
	require.Contains(t, stdout, "shell--ready")

	stdout, stderr, code = runTool(ctx, t, "", "ssh", append(append([]string{}, sshOpts...), host, "echo only-this")...)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "only-this\n", stdout)
}
