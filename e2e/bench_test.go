package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// The benchmarks here compare what a user of the product waits for with
// the same work done without the product, in the same run on the same
// machine: `coder create` against bare Terraform, `coder ssh` against
// OpenSSH. Figures are reported, never asserted; see docs/benchmarks.md.

// BenchmarkCreateVsApply measures the platform's overhead on a workspace
// build. A `coder server` with one built-in provisioner has the shipped
// docker template; each iteration times
//
//   - create: `coder create` until it returns (the build is done and its
//     logs were streamed); the workspace is then deleted untimed;
//   - bare: the same template with bare Terraform in a fresh directory,
//     `terraform init` then `terraform apply -auto-approve`, with the same
//     TF_CLI_CONFIG_FILE (the offline mirror), a warm plugin cache and the
//     environment a build gets (workspace, owner, agent init script);
//   - bare-steps: bare Terraform running the commands the runner runs:
//     init, `plan -out`, apply of that plan, `show -json`.
//
// Each bare workspace is destroyed untimed. create/bare is the overhead a
// user sees; create/bare-steps is what coderd, the daemon and the CLI add
// to the Terraform work itself. The breakdown of create: the job's wait in
// the queue, each Terraform command of the build (from the server's debug
// log), the rest of the job (runner and reporting), and the CLI's share
// (start-up, API calls, log streaming).
func BenchmarkCreateVsApply(b *testing.B) {
	d := newBenchDeployment(b, "--provisioner-daemons", "1", "--verbose", "--log-format", "json")
	d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	main, err := os.ReadFile(filepath.Join(repoRoot, "templates", "docker", "main.tf"))
	require.NoError(b, err)
	pluginCache := b.TempDir()
	// bare runs steps in a fresh directory as workspace ws and returns how
	// long they took; the workspace is destroyed untimed.
	bare := func(ws string, steps ...[]string) time.Duration {
		dir := b.TempDir()
		require.NoError(b, os.WriteFile(filepath.Join(dir, "main.tf"), main, 0o600))
		env := bareEnv(d, pluginCache, ws)
		cleanupLabeled(b, "admin", ws)
		start := time.Now()
		for _, args := range steps {
			terraform(b, dir, env, args...)
		}
		took := time.Since(start)
		b.StopTimer()
		terraform(b, dir, env, "destroy", "-auto-approve", "-input=false")
		b.StartTimer()
		return took
	}
	initCmd := []string{"init", "-input=false"}
	// Warm the bare side's plugin cache, as the template push warmed the
	// server's.
	bare("bare-warm", initCmd)

	var create, bareApply, bareSteps time.Duration
	var parts buildBreakdown
	i := 0
	for b.Loop() {
		ws := fmt.Sprintf("bench%d", i)
		cleanupLabeled(b, "admin", ws)
		offset := len(d.server.output())
		start := time.Now()
		d.run("create", ws, "--template", "docker", "-y")
		took := time.Since(start)
		create += took
		p := d.breakdown(ws, took, d.server.output()[offset:])
		parts.add(p)
		b.StopTimer()
		d.run("delete", ws, "-y")
		b.StartTimer()

		a := bare(fmt.Sprintf("bare%d", i), initCmd, []string{"apply", "-auto-approve", "-input=false"})
		bareApply += a
		s := bare(fmt.Sprintf("steps%d", i), initCmd, []string{"plan", "-input=false", "-out=plan"},
			[]string{"apply", "-input=false", "plan"}, []string{"show", "-json"})
		bareSteps += s
		r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
		b.Logf("#%d: create %s (%s), bare %s, bare-steps %s", i, r(took), p, r(a), r(s))
		i++
	}
	n := float64(i)
	sec := func(d time.Duration) float64 { return d.Seconds() / n }
	b.ReportMetric(sec(create), "create-s")
	b.ReportMetric(sec(bareApply), "bare-s")
	b.ReportMetric(sec(bareSteps), "bare-steps-s")
	b.ReportMetric(float64(create)/float64(bareApply), "create/bare")
	b.ReportMetric(float64(create)/float64(bareSteps), "create/bare-steps")
	b.ReportMetric(sec(parts.queue), "queue-s")
	for _, c := range []string{"init", "plan", "apply", "show"} {
		b.ReportMetric(sec(parts.commands[c]), "tf-"+c+"-s")
	}
	b.ReportMetric(sec(parts.jobOther), "job-other-s")
	b.ReportMetric(sec(parts.cliOther), "cli-other-s")
}

// BenchmarkSSHConnect measures `coder ssh WS -- true` from process start to
// exit against a Docker workspace whose agent is ready: API calls, joining
// the tailnet, coordination, the SSH handshake over WireGuard and the
// command. The baseline is OpenSSH's `ssh HOST true` to an sshd on
// loopback, started for the benchmark: one TCP connection, key exchange,
// public-key auth and the command. The second figure is OpenSSH's
// `ssh coder.WS true` through the ProxyCommand `coder config-ssh` writes
// (`coder ssh --stdio`).
func BenchmarkSSHConnect(b *testing.B) {
	sshd := startSSHD(b)
	d := newBenchDeployment(b, "--provisioner-daemons", "1")
	cleanupLabeled(b, "admin", "sshbench")
	d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	d.run("create", "sshbench", "--template", "docker", "-y")
	b.Cleanup(func() { _, _ = d.try("delete", "sshbench", "-y") })
	d.awaitAgentReady("sshbench")
	// One connection each before timing: the first pays for caches.
	d.run("ssh", "sshbench", "--", "true")
	sshd.run(b)
	// Where the time goes (the phases of one connection; not timed).
	b.Logf("coder ssh --debug-timings:\n%s", d.run("ssh", "--debug-timings", "sshbench", "--", "true"))
	// OpenSSH through the ProxyCommand `coder config-ssh` writes
	// (`coder ssh --stdio`): what `ssh coder.WS` costs a user.
	sshConfig := filepath.Join(b.TempDir(), "ssh_config")
	d.run("config-ssh", "-y", "--ssh-config-file", sshConfig, "--coder-binary-path", coderBin)
	viaConfig := func(env ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ssh", "-F", sshConfig, "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "coder.sshbench", "true")
		cmd.Env = append(append(os.Environ(), d.env...), env...)
		out, err := cmd.CombinedOutput()
		require.NoError(b, err, "ssh coder.sshbench: %s", out)
		return string(out)
	}
	b.Logf("ssh coder.sshbench, ProxyCommand with CODER_DEBUG_TIMINGS=1:\n%s", viaConfig("CODER_DEBUG_TIMINGS=1"))

	var coderSSH, openSSH, configSSH time.Duration
	for b.Loop() {
		start := time.Now()
		d.run("ssh", "sshbench", "--", "true")
		coderSSH += time.Since(start)
		start = time.Now()
		sshd.run(b)
		openSSH += time.Since(start)
		start = time.Now()
		viaConfig()
		configSSH += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(coderSSH.Milliseconds())/n, "coder-ssh-ms")
	b.ReportMetric(float64(openSSH.Milliseconds())/n, "openssh-ms")
	b.ReportMetric(float64(coderSSH)/float64(openSSH), "coder/openssh")
	b.ReportMetric(float64(configSSH.Milliseconds())/n, "config-ssh-ms")
	b.ReportMetric(float64(configSSH)/float64(openSSH), "config-ssh/openssh")
}

// benchDeployment is a `coder server` and a logged-in CLI, like
// deployment but for benchmarks (testing.TB).
type benchDeployment struct {
	tb     testing.TB
	url    string
	cliDir string
	env    []string
	server *proc
	sdk    *codersdk.Client
}

func newBenchDeployment(tb testing.TB, serverArgs ...string) *benchDeployment {
	tb.Helper()
	rc := filepath.Join(repoRoot, ".toolchain", "terraformrc")
	_, err := os.Stat(rc)
	require.NoError(tb, err, "the offline Terraform toolchain is missing: run `make toolchain`")
	out, err := exec.Command("docker", "image", "inspect", "coder-workspace:latest").CombinedOutput()
	require.NoError(tb, err, "the workspace image is missing: run `make workspace-image` (%s)", out)

	dir := tb.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	d := &benchDeployment{tb: tb, url: fmt.Sprintf("http://127.0.0.1:%d", port), cliDir: filepath.Join(dir, "cli"),
		env: []string{"TF_CLI_CONFIG_FILE=" + rc, "NO_COLOR=1"}}
	args := append([]string{"server", "--global-config", filepath.Join(dir, "server"),
		"--http-address", fmt.Sprintf("127.0.0.1:%d", port), "--stun-address", "127.0.0.1:0"}, serverArgs...)
	d.server = &proc{cmd: exec.Command(coderBin, args...), done: make(chan struct{})}
	d.server.cmd.Env = append(os.Environ(), d.env...)
	d.server.cmd.Stdout, d.server.cmd.Stderr = d.server, d.server
	require.NoError(tb, d.server.cmd.Start())
	go func() { _ = d.server.cmd.Wait(); close(d.server.done) }()
	tb.Cleanup(func() {
		d.server.stop(syscall.SIGTERM)
		if tb.Failed() {
			tb.Logf("server output:\n%s", d.server.output())
		}
	})
	ctx := benchContext(tb, 2*time.Minute)
	require.Eventually(tb, func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 2*time.Minute, 200*time.Millisecond, "server did not come up:\n%s", d.server.output())
	const email, password = "admin@example.com", "SomePass!234"
	d.run("login", d.url, "--first-user-username", "admin", "--first-user-email", email, "--first-user-password", password)
	u, err := url.Parse(d.url)
	require.NoError(tb, err)
	d.sdk = codersdk.New(u)
	login, err := d.sdk.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: email, Password: password})
	require.NoError(tb, err)
	d.sdk.SetSessionToken(login.SessionToken)
	return d
}

// run runs a CLI command and requires success.
func (d *benchDeployment) run(args ...string) string {
	d.tb.Helper()
	out, err := d.try(args...)
	require.NoError(d.tb, err, "coder %s:\n%s", strings.Join(args, " "), out)
	return out
}

func (d *benchDeployment) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, coderBin, append([]string{"--global-config", d.cliDir}, args...)...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// awaitAgentReady waits until the workspace's agent ran its startup script.
func (d *benchDeployment) awaitAgentReady(ws string) {
	d.tb.Helper()
	ctx := benchContext(d.tb, 3*time.Minute)
	require.Eventually(d.tb, func() bool {
		w, err := d.sdk.WorkspaceByOwnerAndName(ctx, "admin", ws)
		if err != nil {
			return false
		}
		for _, r := range w.LatestBuild.Resources {
			for _, a := range r.Agents {
				if a.LifecycleState == codersdk.WorkspaceAgentLifecycleReady {
					return true
				}
			}
		}
		return false
	}, 3*time.Minute, 250*time.Millisecond, "the agent of %s never became ready", ws)
}

// buildBreakdown splits the wall time of a `coder create`.
type buildBreakdown struct {
	queue    time.Duration            // job created -> acquired
	commands map[string]time.Duration // Terraform command -> time
	jobOther time.Duration            // job run time not in Terraform
	cliOther time.Duration            // create's wall time outside the job
}

func (p *buildBreakdown) add(o buildBreakdown) {
	if p.commands == nil {
		p.commands = map[string]time.Duration{}
	}
	p.queue += o.queue
	for k, v := range o.commands {
		p.commands[k] += v
	}
	p.jobOther += o.jobOther
	p.cliOther += o.cliOther
}

func (p buildBreakdown) String() string {
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	var cmds []string
	for _, c := range []string{"init", "plan", "apply", "show", "graph"} {
		if v, ok := p.commands[c]; ok {
			cmds = append(cmds, fmt.Sprintf("%s %s", c, r(v)))
		}
	}
	return fmt.Sprintf("queue %s, terraform [%s], job other %s, cli other %s",
		r(p.queue), strings.Join(cmds, ", "), r(p.jobOther), r(p.cliOther))
}

// breakdown reads the first build of ws from the API and the Terraform
// commands from serverLog, the server's JSON log during the create.
func (d *benchDeployment) breakdown(ws string, wall time.Duration, serverLog string) buildBreakdown {
	d.tb.Helper()
	w, err := d.sdk.WorkspaceByOwnerAndName(benchContext(d.tb, time.Minute), "admin", ws)
	require.NoError(d.tb, err)
	job := w.LatestBuild.Job
	require.NotNil(d.tb, job.StartedAt)
	require.NotNil(d.tb, job.CompletedAt)
	p := buildBreakdown{commands: map[string]time.Duration{}}
	p.queue = job.StartedAt.Sub(job.CreatedAt)
	var inTerraform time.Duration
	sc := bufio.NewScanner(strings.NewReader(serverLog))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Command string `json:"command"`
			Took    int64  `json:"took"` // slog's JSON encodes a Duration in ns
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "terraform command done" {
			continue
		}
		p.commands[line.Command] += time.Duration(line.Took)
		inTerraform += time.Duration(line.Took)
	}
	p.jobOther = job.CompletedAt.Sub(*job.StartedAt) - inTerraform
	p.cliOther = wall - job.CompletedAt.Sub(job.CreatedAt)
	return p
}

// bareEnv is what the runner gives Terraform for a start build, for a
// workspace named ws of the user admin.
func bareEnv(d *benchDeployment, pluginCache, ws string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1",
		"TF_CLI_CONFIG_FILE=" + filepath.Join(repoRoot, ".toolchain", "terraformrc"),
		"TF_PLUGIN_CACHE_DIR=" + pluginCache,
		"CODER_AGENT_URL=" + d.url,
		"CODER_WORKSPACE_TRANSITION=start",
		"CODER_WORKSPACE_NAME=" + ws,
		"CODER_WORKSPACE_ID=" + uuid.NewString(),
		"CODER_WORKSPACE_BUILD_ID=" + uuid.NewString(),
		"CODER_WORKSPACE_OWNER=admin",
		"CODER_WORKSPACE_OWNER_ID=" + uuid.NewString(),
		"CODER_WORKSPACE_OWNER_EMAIL=admin@example.com",
		"CODER_WORKSPACE_OWNER_GROUPS=[]",
		"CODER_WORKSPACE_OWNER_RBAC_ROLES=[]",
		"CODER_WORKSPACE_TEMPLATE_ID=" + uuid.NewString(),
		"CODER_WORKSPACE_TEMPLATE_NAME=docker",
		"CODER_WORKSPACE_TEMPLATE_VERSION=v1",
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		env = append(env, "DOCKER_HOST="+h)
	}
	for key, script := range coderd.AgentInitScripts() {
		env = append(env, "CODER_AGENT_SCRIPT_"+key+"="+script)
	}
	return env
}

func terraform(tb testing.TB, dir string, env []string, args ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "terraform", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "terraform %s:\n%s", strings.Join(args, " "), out)
}

// cleanupLabeled removes, when the benchmark ends, the containers and
// volumes the docker template labels with owner and workspace ws.
func cleanupLabeled(tb testing.TB, owner, ws string) {
	tb.Cleanup(func() {
		filters := []string{"--filter", "label=coder.owner=" + owner, "--filter", "label=coder.workspace_name=" + ws}
		ids, _ := exec.Command("docker", append([]string{"ps", "-aq"}, filters...)...).Output()
		for _, id := range strings.Fields(string(ids)) {
			if tb.Failed() {
				logs, _ := exec.Command("docker", "logs", "--tail", "50", id).CombinedOutput()
				tb.Logf("container %s of %s:\n%s", id, ws, logs)
			}
			_ = exec.Command("docker", "rm", "-f", id).Run()
		}
		vols, _ := exec.Command("docker", append([]string{"volume", "ls", "-q"}, filters...)...).Output()
		for _, v := range strings.Fields(string(vols)) {
			_ = exec.Command("docker", "volume", "rm", "-f", v).Run()
		}
	})
}

// sshd is an OpenSSH server on loopback that accepts one key.
type sshd struct {
	port int
	key  string // the client's private key file
	user string
}

// startSSHD runs OpenSSH's sshd (testutil.StartSSHD) letting in a fresh
// client key, until the benchmark ends.
func startSSHD(tb testing.TB) *sshd {
	tb.Helper()
	dir := tb.TempDir()
	key := filepath.Join(dir, "client")
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput()
	require.NoError(tb, err, "ssh-keygen: %s", out)
	pub, err := os.ReadFile(key + ".pub")
	require.NoError(tb, err)
	s := testutil.StartSSHD(tb, string(pub))
	return &sshd{port: s.Port, key: key, user: s.User}
}

// run runs `ssh HOST true` against the server and requires success.
func (s *sshd) run(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-i", s.key, "-p", fmt.Sprint(s.port),
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", s.user+"@127.0.0.1", "true").CombinedOutput()
	require.NoError(tb, err, "ssh: %s", out)
}

func benchContext(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}
