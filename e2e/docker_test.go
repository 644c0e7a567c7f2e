package e2e_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDockerWorkspaceLifecycle is the "done when", automated: a
// fleet-only server, an external provisioner with a key, the docker
// template pushed, a workspace created, stopped, started and deleted.
func TestDockerWorkspaceLifecycle(t *testing.T) {
	d := newDeployment(t, "--provisioner-daemons", "0")
	cleanupDocker(t, "admin", "e2e-ws1")

	keyOut := d.run("provisioner", "keys", "create", "fleet")
	key := regexp.MustCompile(`cpk_[A-Za-z0-9]+`).FindString(keyOut)
	require.NotEmpty(t, key, "no key in:\n%s", keyOut)
	d.startProvisioner(key)

	out := d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	require.Contains(t, out, "Template docker created")
	out = d.run("create", "e2e-ws1", "--template", "docker", "-y")
	require.Contains(t, out, "Apply complete")
	require.Len(t, containers(t, "admin", "e2e-ws1"), 1, "the workspace container runs")
	require.Len(t, volumes(t, "admin", "e2e-ws1"), 1)

	// The agent inside the container downloads itself from coderd and
	// becomes ready.
	require.Eventually(t, func() bool {
		out, err := d.try("show", "e2e-ws1")
		return err == nil && strings.Contains(out, "ready")
	}, 3*time.Minute, time.Second, "agent never became ready")

	d.run("stop", "e2e-ws1", "-y")
	require.Empty(t, containers(t, "admin", "e2e-ws1"), "stop removes the container")
	require.Len(t, volumes(t, "admin", "e2e-ws1"), 1, "stop keeps the home volume")

	d.run("start", "e2e-ws1", "-y")
	require.Len(t, containers(t, "admin", "e2e-ws1"), 1)

	list := d.run("list", "-o", "json")
	require.Contains(t, list, `"e2e-ws1"`)

	// A template in use cannot be deleted.
	_, err := d.try("templates", "delete", "docker", "-y")
	require.Error(t, err)

	d.run("delete", "e2e-ws1", "-y")
	require.Empty(t, containers(t, "admin", "e2e-ws1"))
	require.Empty(t, volumes(t, "admin", "e2e-ws1"), "delete removes the volume")
	d.run("templates", "delete", "docker", "-y")
}

// TestProvisionerKilledMidBuild: SIGKILL the only daemon during an apply;
// the job fails with a clear reason well before Coder's five minutes, and
// the next build (on a new daemon) succeeds.
func TestProvisionerKilledMidBuild(t *testing.T) {
	d := newDeployment(t, "--provisioner-daemons", "0")
	keyOut := d.run("provisioner", "keys", "create", "fleet")
	key := regexp.MustCompile(`cpk_[A-Za-z0-9]+`).FindString(keyOut)
	daemon := d.startProvisioner(key)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
data "coder_workspace" "me" {}
# Sleeps only on the first build: later builds find it in the state.
resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "exec sleep 60"
  }
}
`), 0o644))
	d.run("templates", "push", "slow", "-d", dir, "-y")

	done := make(chan string, 1)
	go func() {
		out, _ := d.try("create", "slowws", "--template", "slow", "-y")
		done <- out
	}()
	// Kill the daemon once the apply has begun.
	require.Eventually(t, func() bool {
		out, _ := d.try("logs", "slowws")
		return strings.Contains(out, "slow[0]: Provisioning with 'local-exec'") || strings.Contains(out, "Creating...")
	}, 3*time.Minute, 500*time.Millisecond, "the apply never started")
	killed := time.Now()
	daemon.stop(syscall.SIGKILL)

	out := <-done
	took := time.Since(killed)
	require.Contains(t, out, "stopped responding", "the build fails with the reaper's reason:\n%s", out)
	require.Less(t, took, 5*time.Minute, "a dead daemon must be noticed well before five minutes")
	t.Logf("job failed %s after the daemon was killed", took.Round(time.Second))

	// The killed apply left no state, so the retry sleeps again; that is
	// the honest cost of a dead daemon mid-apply.
	d.startProvisioner(key)
	out = d.run("start", "slowws", "-y")
	require.Contains(t, out, "running")
	d.run("delete", "slowws", "-y")
}
