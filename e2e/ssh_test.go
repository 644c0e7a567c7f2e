package e2e_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDockerWorkspaceSSH: a Docker workspace's agent becomes ready, then
// `coder ssh` and the system's OpenSSH client (through `coder config-ssh`)
// both reach it over the tailnet; after a coderd restart the agent
// reconnects and a new `coder ssh` works again.
func TestDockerWorkspaceSSH(t *testing.T) {
	d := newDeployment(t)
	cleanupDocker(t, "admin", "e2e-ssh")
	d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	d.run("create", "e2e-ssh", "--template", "docker", "-y")
	t.Cleanup(func() { _, _ = d.try("delete", "e2e-ssh", "-y") })

	out := d.run("ssh", "e2e-ssh", "--", "sh", "-c", "echo ok; uname -s; id -un")
	require.Contains(t, out, "ok")
	require.Contains(t, out, "Linux")
	require.Contains(t, out, "coder", "the session runs as the workspace user")

	// Exit codes come back.
	_, err := d.try("ssh", "e2e-ssh", "--", "sh", "-c", "exit 3")
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 3, exit.ExitCode())

	// Real OpenSSH through the managed config block.
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	d.run("config-ssh", "--ssh-config-file", cfg, "-y", "--coder-binary-path", coderBin)
	b, err := os.ReadFile(cfg)
	require.NoError(t, err)
	require.Contains(t, string(b), "Host coder.e2e-ssh")
	sshOut, err := exec.Command("ssh", "-F", cfg, "coder.e2e-ssh", "echo", "hi-from-openssh").CombinedOutput()
	require.NoError(t, err, "%s", sshOut)
	require.Contains(t, string(sshOut), "hi-from-openssh")
	src := filepath.Join(t.TempDir(), "payload.txt")
	require.NoError(t, os.WriteFile(src, []byte("scp works\n"), 0o600))
	scpOut, err := exec.Command("scp", "-F", cfg, src, "coder.e2e-ssh:/tmp/payload.txt").CombinedOutput()
	require.NoError(t, err, "%s", scpOut)
	require.Contains(t, d.run("ssh", "e2e-ssh", "--", "cat", "/tmp/payload.txt"), "scp works")

	// Restart coderd: the agent reconnects by itself and new sessions work
	// again without touching the workspace.
	args := d.server.cmd.Args[1:]
	d.server.stop(syscall.SIGTERM)
	d.server = start(t, d.env, args...)
	// Each try is bounded and traced, so a failure shows where the
	// connection stopped rather than one attempt hanging out the wait.
	var last string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := d.try("ssh", "--connect-timeout", "20s", "--debug-timings", "e2e-ssh", "--", "echo", "back")
		if err == nil && strings.Contains(out, "back") {
			break
		}
		last = fmt.Sprintf("%v\n%s", err, out)
		if time.Now().After(deadline) {
			t.Fatalf("no ssh within 2 minutes of the restart; the last try: %s", last)
		}
		time.Sleep(time.Second)
	}
}
