package agentssh_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

// These tests drive the server with the real OpenSSH client programs
// (Debian package openssh-client), which is what users run.

// openSSH returns the common options that make ssh, scp and sftp connect to
// addr without host-key checks or the user's own configuration. portFlag
// is "-p" for ssh and "-P" for scp and sftp.
func openSSH(t *testing.T, addr, portFlag string) (host string, opts []string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	return host, []string{
		"-F", "/dev/null",
		"-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes",
		"-o", "LogLevel=ERROR",
		portFlag, port,
	}
}

// runTool runs an OpenSSH program and returns stdout, stderr and the exit
// code.
func runTool(ctx context.Context, t *testing.T, stdin string, name string, args ...string) (string, string, int) {
	t.Helper()
	path, err := exec.LookPath(name)
	require.NoError(t, err, "install the openssh-client package")
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	err = cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

func TestOpenSSHClient(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, addr := startServer(t, agentssh.Options{Dir: dir})
	ctx := testutil.Context(t, testutil.WaitShort)
	host, opts := openSSH(t, addr, "-p")
	ssh := func(stdin string, args ...string) (string, string, int) {
		return runTool(ctx, t, stdin, "ssh", append(append(append([]string{}, opts...), host), args...)...)
	}

	t.Run("Exec", func(t *testing.T) {
		stdout, stderr, code := ssh("", "echo hello; echo problem >&2; exit 7")
		require.Equal(t, "hello\n", stdout)
		require.Equal(t, "problem\n", stderr)
		require.Equal(t, 7, code)
	})
	t.Run("Stdin", func(t *testing.T) {
		stdout, stderr, code := ssh("line one\nline two\n", "wc -l")
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "2", strings.TrimSpace(stdout))
	})
	t.Run("ForcedTTY", func(t *testing.T) {
		stdout, stderr, code := ssh("", "-tt", "tty; exit 3")
		require.Equal(t, 3, code, stderr)
		require.True(t, strings.HasPrefix(stdout, "/dev/pts/"), "stdout %q", stdout)
	})
	t.Run("SendEnv", func(t *testing.T) {
		stdout, stderr, code := runTool(ctx, t, "", "env", append([]string{"LC_AGENTSSH_TEST=passed", "ssh",
			"-o", "SendEnv=LC_AGENTSSH_TEST"}, append(append([]string{}, opts...), host, `echo "$LC_AGENTSSH_TEST"`)...)...)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "passed\n", stdout)
	})
	t.Run("LocalForward", func(t *testing.T) {
		echo := startEcho(t)
		// -W is ssh's stdio forwarding: a direct-tcpip channel joined to
		// its own stdin and stdout.
		stdout, stderr, code := ssh("ping through -W\n", "-W", echo)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "ping through -W\n", stdout)
	})
}

func TestOpenSSHFileCopy(t *testing.T) {
	t.Parallel()
	remoteDir := t.TempDir()
	_, addr := startServer(t, agentssh.Options{Dir: remoteDir})
	ctx := testutil.Context(t, testutil.WaitShort)
	localDir := t.TempDir()
	content := bytes.Repeat([]byte("file copied with OpenSSH\n"), 10000)
	local := filepath.Join(localDir, "upload.txt")
	require.NoError(t, os.WriteFile(local, content, 0o600))

	tests := []struct {
		name string
		// run uploads local to remote, then downloads remote to back.
		run func(t *testing.T, remote, back string)
	}{
		{name: "SCP", run: func(t *testing.T, remote, back string) {
			h, opts := openSSH(t, addr, "-P")
			_, stderr, code := runTool(ctx, t, "", "scp", append(opts, local, h+":"+remote)...)
			require.Equal(t, 0, code, stderr)
			_, stderr, code = runTool(ctx, t, "", "scp", append(opts, h+":"+remote, back)...)
			require.Equal(t, 0, code, stderr)
		}},
		{name: "LegacySCP", run: func(t *testing.T, remote, back string) {
			h, opts := openSSH(t, addr, "-P")
			_, stderr, code := runTool(ctx, t, "", "scp", append(append([]string{"-O"}, opts...), local, h+":"+remote)...)
			require.Equal(t, 0, code, stderr)
			_, stderr, code = runTool(ctx, t, "", "scp", append(append([]string{"-O"}, opts...), h+":"+remote, back)...)
			require.Equal(t, 0, code, stderr)
		}},
		{name: "SFTP", run: func(t *testing.T, remote, back string) {
			h, opts := openSSH(t, addr, "-P")
			batch := "put " + local + " " + remote + "\nls -l " + remote + "\nget " + remote + " " + back + "\n"
			_, stderr, code := runTool(ctx, t, batch, "sftp", append(append([]string{"-b", "-"}, opts...), h)...)
			require.Equal(t, 0, code, stderr)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			remote := filepath.Join(remoteDir, tc.name+".txt")
			back := filepath.Join(localDir, tc.name+"-back.txt")
			tc.run(t, remote, back)
			got, err := os.ReadFile(remote)
			require.NoError(t, err)
			require.Equal(t, content, got, "uploaded file differs")
			got, err = os.ReadFile(back)
			require.NoError(t, err)
			require.Equal(t, content, got, "downloaded file differs")
		})
	}
}
