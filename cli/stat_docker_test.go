package cli

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// TestStatDockerLimits runs the freshly built coder inside the workspace
// image with --cpus 0.5 --memory 256m: `coder stat` must report the
// container's limits, not the host's (this host runs cgroup v1).
func TestStatDockerLimits(t *testing.T) {
	t.Parallel()
	// make test builds the image first; a missing one is a failure, not a
	// reason to prove nothing.
	_, err := exec.LookPath("docker")
	require.NoError(t, err, "docker is needed: the container limits test runs the workspace image")
	out, err := exec.Command("docker", "image", "inspect", "coder-workspace:latest").CombinedOutput()
	require.NoError(t, err, "the image coder-workspace:latest is missing (run `make workspace-image`): %s", strings.TrimSpace(string(out)))
	ctx := testutil.Context(t, 10*time.Minute)
	bin := filepath.Join(t.TempDir(), "coder")
	build := exec.CommandContext(ctx, "go", "build", "-tags", testutil.BuildTags, "-o", bin, "./cmd/coder")
	build.Dir = ".." // the image has glibc: the ordinary (cached) build runs there
	out, err = build.CombinedOutput()
	require.NoError(t, err, "build coder: %s", out)

	docker := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
		require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
		return strings.TrimSpace(string(out))
	}
	script := `set -e
coder stat cpu -o json --interval=200ms
echo ---
coder stat mem -o json
echo ---
coder stat mem --prefix Mi
coder stat cpu --host -o json --interval=200ms`
	id := docker("create", "--cpus", "0.5", "--memory", "256m", "--user", "coder",
		"-e", "PATH=/tmp/coder-bin:/usr/bin:/bin", "coder-workspace:latest", "/bin/sh", "-c", script)
	t.Cleanup(func() { _ = exec.Command("docker", "rm", "-f", id).Run() })
	docker("cp", filepath.Dir(bin), id+":/tmp/coder-bin")
	out2 := docker("start", "-a", id)
	parts := strings.Split(out2, "---")
	require.Len(t, parts, 3, out2)

	var cpu, mem, hostCPU statJSON
	require.NoError(t, json.Unmarshal([]byte(parts[0]), &cpu), out2)
	require.NotNil(t, cpu.Total)
	require.InDelta(t, 0.5, *cpu.Total, 1e-9, "--cpus 0.5 is the container's total")
	require.LessOrEqual(t, cpu.Used, 0.5+0.1)
	require.NoError(t, json.Unmarshal([]byte(parts[1]), &mem), out2)
	require.NotNil(t, mem.Total)
	require.Equal(t, float64(256<<20), *mem.Total, "--memory 256m is the container's total")
	require.Greater(t, mem.Used, 0.0)
	rest := strings.SplitN(strings.TrimSpace(parts[2]), "\n", 2)
	require.Len(t, rest, 2, out2)
	require.Regexp(t, `^[0-9.]+/256 MiB \([0-9]+%\)$`, rest[0])
	require.NoError(t, json.Unmarshal([]byte(rest[1]), &hostCPU), out2)
	require.Greater(t, *hostCPU.Total, 0.5, "--host reports the host's CPUs")
}
