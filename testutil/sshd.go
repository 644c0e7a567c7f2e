package testutil

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SSHD is a running OpenSSH server (see StartSSHD).
type SSHD struct {
	Port int
	// User is the account it lets in: the test's own.
	User string
}

// StartSSHD runs OpenSSH's `sshd -D` on a free loopback port, with a fresh
// host key, letting the test's own user in with the public key line
// authorizedKey, until the test ends. It is a real server for tests of
// clients (git over SSH, benchmarks' baselines). OpenSSH's server must be
// installed (make deps).
func StartSSHD(tb testing.TB, authorizedKey string) SSHD {
	tb.Helper()
	return StartSSHDOn(tb, "127.0.0.1", authorizedKey)
}

// StartSSHDOn is StartSSHD listening on ip, for clients that are not on
// the host's loopback (a Docker container reaching the bridge's gateway).
func StartSSHDOn(tb testing.TB, ip, authorizedKey string) SSHD {
	tb.Helper()
	bin, err := exec.LookPath("sshd")
	if err != nil {
		bin = "/usr/sbin/sshd"
	}
	_, err = os.Stat(bin)
	require.NoError(tb, err, "OpenSSH's server is missing: apt-get install -y openssh-server (make deps)")
	if os.Geteuid() == 0 {
		// Privilege separation needs its empty directory (the package's
		// service unit normally creates it).
		require.NoError(tb, os.MkdirAll("/run/sshd", 0o755))
	}
	dir := tb.TempDir()
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host")).CombinedOutput()
	require.NoError(tb, err, "ssh-keygen: %s", out)
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(strings.TrimSpace(authorizedKey)+"\n"), 0o600))
	me, err := user.Current()
	require.NoError(tb, err)

	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	config := strings.Join([]string{
		fmt.Sprintf("Port %d", port),
		"ListenAddress " + ip,
		"HostKey " + filepath.Join(dir, "host"),
		"AuthorizedKeysFile " + filepath.Join(dir, "authorized_keys"),
		"PidFile none",
		"UsePAM no",
		"StrictModes no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"LogLevel ERROR",
		// bash sources ~/.bashrc for a command run over ssh unless SHLVL
		// says it is nested; a user's rc files (pyenv, ...) are not what
		// the tests measure.
		"SetEnv SHLVL=1",
	}, "\n") + "\n"
	cfg := filepath.Join(dir, "sshd_config")
	require.NoError(tb, os.WriteFile(cfg, []byte(config), 0o600))

	var output LockedBuffer
	cmd := exec.Command(bin, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = &output, &output
	require.NoError(tb, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if tb.Failed() {
			tb.Logf("sshd output:\n%s", output.String())
		}
	})
	require.Eventually(tb, func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(port)), time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}, 30*time.Second, 50*time.Millisecond, "sshd did not listen:\n%s", output.String())
	return SSHD{Port: port, User: me.Username}
}
