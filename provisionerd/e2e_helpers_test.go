package provisionerd_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/provisionerd/terraform"
	"github.com/opencoder/coder/testutil"
)

// The tests in this package's _test files named e2e run a real coderd
// (coderdtest: real HTTP handler, real PostgreSQL) and drive daemons
// against it over HTTP, as `coder provisioner start` does. Jobs run on
// the real Terraform runner where what is tested is the daemon's effect on
// Terraform (cancel, shutdown), and on a small scripted runner where the
// test needs to hold a job at a given point.

const e2eTimeout = 3 * time.Minute

func e2eContext(t testing.TB) context.Context {
	t.Helper()
	return coderdtest.Context(t, e2eTimeout)
}

// deployment is a test coderd with its first user.
type deployment struct {
	owner *codersdk.Client
	org   uuid.UUID
	srv   *coderdtest.Server
}

func newDeployment(t testing.TB, opts *coderdtest.Options) *deployment {
	t.Helper()
	if opts == nil {
		opts = &coderdtest.Options{}
	}
	opts.ProvisionerPSK = coderdtest.TestPSK
	client, srv := coderdtest.New(t, opts)
	first := coderdtest.CreateFirstUser(t, client)
	return &deployment{owner: client, org: first.OrganizationID, srv: srv}
}

// daemonClient authenticates with the test PSK against u (coderd, or a
// proxy in front of it).
func daemonClient(u *url.URL) *codersdk.Client {
	c := codersdk.New(u)
	c.Header = http.Header{codersdk.ProvisionerDaemonPSKHeader: {coderdtest.TestPSK}}
	return c
}

// startDaemon runs a daemon until the test ends (Close at cleanup).
func startDaemon(t testing.TB, client *codersdk.Client, opts provisionerd.Options) *provisionerd.Daemon {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testutil.Logger(t)
	}
	if opts.Name == "" {
		opts.Name = "test-daemon"
	}
	d := provisionerd.New(client, opts)
	d.Start()
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// awaitStats waits for the daemon's counters to read want: a job's
// counter moves right after coderd accepted its report.
func awaitStats(t testing.TB, d *provisionerd.Daemon, want provisionerd.Stats) {
	t.Helper()
	require.Eventually(t, func() bool { return d.Stats() == want }, 10*time.Second, 10*time.Millisecond, "stats: %+v, want %+v", d.Stats(), want)
}

// pushVersion uploads files and queues their import.
func (dep *deployment) pushVersion(t testing.TB, files map[string]string, tags map[string]string) codersdk.TemplateVersion {
	t.Helper()
	return coderdtest.CreateTemplateVersion(t, dep.owner, dep.org, files, tags)
}

// awaitVersionJob waits until a version's import ended.
func (dep *deployment) awaitVersionJob(t *testing.T, v codersdk.TemplateVersion) codersdk.ProvisionerJob {
	t.Helper()
	return coderdtest.AwaitJob(t, func() (codersdk.ProvisionerJob, error) {
		tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
		return tv.Job, err
	})
}

// awaitBuildJob waits until a build ended.
func (dep *deployment) awaitBuildJob(t *testing.T, build uuid.UUID) codersdk.ProvisionerJob {
	t.Helper()
	return coderdtest.AwaitJob(t, func() (codersdk.ProvisionerJob, error) {
		b, err := dep.owner.WorkspaceBuild(e2eContext(t), build)
		return b.Job, err
	})
}

// versionLogs returns a version's import log, one "[stage] output" per line.
func (dep *deployment) versionLogs(t *testing.T, v uuid.UUID) string {
	t.Helper()
	ch, _, err := dep.owner.TemplateVersionLogsAfter(e2eContext(t), v, 0, false)
	require.NoError(t, err)
	return joinLogs(ch)
}

// buildLogs returns a build's log so far.
func (dep *deployment) buildLogs(t *testing.T, build uuid.UUID) string {
	t.Helper()
	ch, _, err := dep.owner.WorkspaceBuildLogsAfter(e2eContext(t), build, 0, false)
	require.NoError(t, err)
	return joinLogs(ch)
}

func joinLogs(ch <-chan codersdk.ProvisionerJobLog) string {
	var b strings.Builder
	for l := range ch {
		b.WriteString("[" + l.Stage + "] " + l.Output + "\n")
	}
	return b.String()
}

// createWorkspace makes a template from an imported version and a
// workspace from it, which queues its first build.
func (dep *deployment) createWorkspace(t *testing.T, v codersdk.TemplateVersion) codersdk.Workspace {
	t.Helper()
	ctx := e2eContext(t)
	tmpl, err := dep.owner.CreateTemplate(ctx, dep.org, codersdk.CreateTemplateRequest{Name: "t" + uuid.NewString()[:8], VersionID: v.ID})
	require.NoError(t, err)
	ws, err := dep.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws" + uuid.NewString()[:8]})
	require.NoError(t, err)
	return ws
}

// buildState is the Terraform state coderd stored for a build.
func (dep *deployment) buildState(t *testing.T, jobID uuid.UUID) []byte {
	t.Helper()
	b, err := dep.srv.DB.GetWorkspaceBuildByJobID(e2eContext(t), jobID)
	require.NoError(t, err)
	return b.ProvisionerState
}

// newTerraformRunner is the real runner, with Terraform from PATH and only
// the built-in provider (the templates here need no other).
func newTerraformRunner(t *testing.T) *provisionerd.TerraformRunner {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "terraformrc")
	require.NoError(t, os.WriteFile(rc, nil, 0o600))
	r, err := provisionerd.NewTerraformRunner(e2eContext(t), terraform.Options{
		CacheDir:       t.TempDir(),
		CLIConfigFile:  rc,
		InterruptGrace: time.Minute,
		Logger:         testutil.Logger(t).With("component", "terraform"),
	})
	require.NoError(t, err)
	return r
}

// slowTemplate's apply creates one resource, then runs a provisioner that
// sleeps: a build can be interrupted in the middle of an apply, with a
// partial state to keep.
var slowTemplate = map[string]string{"main.tf": `
resource "terraform_data" "first" {}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "echo sleeping-now; exec sleep 120"
  }
}
`}

// quickTemplate imports and builds in a second or two.
var quickTemplate = map[string]string{"main.tf": `
resource "terraform_data" "home" {
  input = "home"
}
`}

// toggleProxy forwards to coderd on a fixed address and can be taken down
// (every connection closed, the port refusing) and brought back: coderd
// restarting, or the network dropping, as the daemon sees it.
type toggleProxy struct {
	t     *testing.T
	addr  string
	proxy *httputil.ReverseProxy

	mu   sync.Mutex
	srv  *http.Server  // nil while down; guarded by mu
	done chan struct{} // closed when srv's Serve returned; guarded by mu
}

func newToggleProxy(t *testing.T, target *url.URL) *toggleProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &toggleProxy{t: t, addr: ln.Addr().String(), proxy: httputil.NewSingleHostReverseProxy(target)}
	p.proxy.ErrorLog = nil
	p.proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *toggleProxy) URL() *url.URL { return &url.URL{Scheme: "http", Host: p.addr} }

func (p *toggleProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: p.proxy, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	p.mu.Lock()
	p.srv, p.done = srv, done
	p.mu.Unlock()
}

// down closes the listener and every open connection.
func (p *toggleProxy) down() {
	p.mu.Lock()
	srv, done := p.srv, p.done
	p.srv = nil
	p.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-done
}

// up listens again on the same address.
func (p *toggleProxy) up() {
	p.t.Helper()
	var ln net.Listener
	require.Eventually(p.t, func() bool {
		var err error
		ln, err = net.Listen("tcp", p.addr)
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "re-listen on %s", p.addr)
	p.serve(ln)
}

// isCtxErr reports a context error (for runners' results).
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
