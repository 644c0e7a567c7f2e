// Package e2e runs the product as a user would: the real `coder` binary as
// separate processes (server, provisioner daemons, CLI), real Terraform
// with the offline provider mirror, and real Docker containers from the
// docker template. Each test removes the containers, volumes, processes and
// directories it created.
package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/testutil"
)

var (
	coderBin string
	repoRoot string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "coder-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	coderBin = filepath.Join(dir, "coder")
	build := exec.Command("go", "build", "-tags", testutil.BuildTags, "-o", coderBin, "./cmd/coder")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build coder:", err)
		os.Exit(1)
	}
	// dbtestutil starts its PostgreSQL only for a test that asks for a
	// database (the Kubernetes one); the rest bring their own.
	code := dbtestutil.Main(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// requireToolchain fails (never skips) with how to get what is missing.
func requireToolchain(t *testing.T) string {
	t.Helper()
	rc := filepath.Join(repoRoot, ".toolchain", "terraformrc")
	_, err := os.Stat(rc)
	require.NoError(t, err, "the offline Terraform toolchain is missing: run `make toolchain`")
	out, err := exec.Command("docker", "image", "inspect", "coder-workspace:latest").CombinedOutput()
	require.NoError(t, err, "the workspace image is missing: run `make workspace-image` (%s)", out)
	return rc
}

func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// proc is a background coder process whose output is kept for failures.
type proc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *proc) stop(sig syscall.Signal) {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(coderBin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("output of coder %s:\n%s", strings.Join(args, " "), p.output())
		}
	})
	return p
}

// deployment is a running `coder server` and a logged-in CLI.
type deployment struct {
	t       *testing.T
	url     string
	cliDir  string
	env     []string
	server  *proc
	tfrc    string
	workdir string
}

func newDeployment(t *testing.T, extraServerArgs ...string) *deployment {
	t.Helper()
	return newDeploymentOn(t, "127.0.0.1", extraServerArgs...)
}

// newDeploymentOn is newDeployment with the server listening on ip (its
// access URL), e.g. the Docker bridge's gateway, which containers on their
// own network reach too.
func newDeploymentOn(t *testing.T, ip string, extraServerArgs ...string) *deployment {
	t.Helper()
	tfrc := requireToolchain(t)
	dir := t.TempDir()
	port := freePortOn(t, ip)
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	d := &deployment{t: t, url: "http://" + addr, cliDir: filepath.Join(dir, "cli"), tfrc: tfrc, workdir: dir,
		env: []string{"TF_CLI_CONFIG_FILE=" + tfrc, "NO_COLOR=1"}}
	args := append([]string{"server", "--global-config", filepath.Join(dir, "server"), "--http-address", addr,
		"--stun-address", "127.0.0.1:0"}, extraServerArgs...)
	d.server = start(t, d.env, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.Eventually(t, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 2*time.Minute, 200*time.Millisecond, "server did not come up:\n%s", d.server.output())
	d.run("login", d.url, "--first-user-username", "admin", "--first-user-email", "admin@example.com", "--first-user-password", "SomePass!234")
	return d
}

// run runs a CLI command and requires success; it returns stdout+stderr.
func (d *deployment) run(args ...string) string {
	d.t.Helper()
	out, err := d.try(args...)
	require.NoError(d.t, err, "coder %s:\n%s", strings.Join(args, " "), out)
	return out
}

func (d *deployment) try(args ...string) (string, error) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, coderBin, append([]string{"--global-config", d.cliDir}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startProvisioner runs an external `coder provisioner start` with a key.
func (d *deployment) startProvisioner(key string) *proc {
	d.t.Helper()
	return start(d.t, d.env, "--global-config", d.cliDir, "provisioner", "start", "--url", d.url, "--key", key,
		"--cache-dir", filepath.Join(d.workdir, "provisioner-cache"), "--name", "e2e-"+fmt.Sprint(time.Now().UnixNano()%100000))
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// cleanupDocker removes whatever a workspace left behind.
func cleanupDocker(t *testing.T, owner, ws string) {
	t.Cleanup(func() {
		if t.Failed() {
			dumpContainers(t, owner, ws)
		}
		ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=coder.owner="+owner, "--filter", "label=coder.workspace_name="+ws).Output()
		for _, id := range strings.Fields(string(ids)) {
			_ = exec.Command("docker", "rm", "-f", id).Run()
		}
		vols, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=coder.owner="+owner, "--filter", "label=coder.workspace_name="+ws).Output()
		for _, v := range strings.Fields(string(vols)) {
			_ = exec.Command("docker", "volume", "rm", "-f", v).Run()
		}
	})
}

// dumpContainers logs the state and output of a workspace's containers,
// for failures.
func dumpContainers(t *testing.T, owner, ws string) {
	ids, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=coder.owner="+owner, "--filter", "label=coder.workspace_name="+ws).Output()
	for _, id := range strings.Fields(string(ids)) {
		st, _ := exec.Command("docker", "inspect", "-f", "{{.State.Status}} exit={{.State.ExitCode}}", id).CombinedOutput()
		logs, _ := exec.Command("docker", "logs", "--tail", "300", id).CombinedOutput()
		t.Logf("container %s: %s\n%s", id, st, logs)
	}
}

func containers(t *testing.T, owner, ws string) []string {
	return strings.Fields(docker(t, "ps", "-q", "--filter", "label=coder.owner="+owner, "--filter", "label=coder.workspace_name="+ws))
}

func volumes(t *testing.T, owner, ws string) []string {
	return strings.Fields(docker(t, "volume", "ls", "-q", "--filter", "label=coder.owner="+owner, "--filter", "label=coder.workspace_name="+ws))
}
