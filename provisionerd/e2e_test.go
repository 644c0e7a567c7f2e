package provisionerd_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/testutil"
)

// TestMain gives the tests their PostgreSQL (dbtestutil) and, once every
// test and its cleanups ran, checks that no goroutine outlived them: every
// daemon goroutine must be joined by Shutdown or Close.
func TestMain(m *testing.M) {
	code := dbtestutil.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestDaemonImportsTemplateVersion(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Name: "importer", Runner: newTerraformRunner(t)})

	v := dep.pushVersion(t, map[string]string{
		"main.tf":   quickTemplate["main.tf"],
		"README.md": "# Quick\n",
	}, nil)
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)
	require.Equal(t, d.ID(), *job.WorkerID)

	tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
	require.NoError(t, err)
	require.Equal(t, "# Quick\n", tv.Readme)
	res, err := dep.owner.TemplateVersionResources(e2eContext(t), v.ID)
	require.NoError(t, err)
	require.NotEmpty(t, res)

	logs := dep.versionLogs(t, v.ID)
	require.Contains(t, logs, "[Setting up] Acquired job by provisioner daemon importer")
	require.Contains(t, logs, "Terraform", "Terraform's own lines are streamed")
	awaitStats(t, d, provisionerd.Stats{Acquired: 1, Succeeded: 1})
}

func TestDaemonBuildsWorkspace(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: newTerraformRunner(t), Concurrency: 2})

	v := dep.pushVersion(t, quickTemplate, nil)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, dep.awaitVersionJob(t, v).Status)
	ws := dep.createWorkspace(t, v)
	job := dep.awaitBuildJob(t, ws.LatestBuild.ID)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)
	require.Contains(t, string(dep.buildState(t, job.ID)), "terraform_data", "the new state is stored")

	// The next build starts from that state: a stop keeps the resource.
	b, err := dep.owner.CreateWorkspaceBuild(e2eContext(t), ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	stop := dep.awaitBuildJob(t, b.ID)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, stop.Status, "error: %s", stop.Error)
	require.Contains(t, string(dep.buildState(t, stop.ID)), `"home"`)
}

func TestDaemonReportsTerraformErrors(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: newTerraformRunner(t)})

	v := dep.pushVersion(t, map[string]string{"main.tf": "output \"x\" {\n  value = terraform_data.nope.id\n}\n"}, nil)
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobFailed, job.Status)
	require.Equal(t, codersdk.JobErrorCodeTerraform, job.ErrorCode)
	require.Contains(t, job.Error, "Reference to undeclared resource", "Terraform's own message reaches the user")
	awaitStats(t, d, provisionerd.Stats{Acquired: 1, Failed: 1})
}

func TestDaemonsNeverShareAJob(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	runner := newScriptedRunner()
	close(runner.release) // every job succeeds at once
	var daemons []*provisionerd.Daemon
	for i := range 2 {
		daemons = append(daemons, startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{
			Name: "d" + string(rune('a'+i)), Runner: runner, Concurrency: 3,
		}))
	}
	const jobs = 24
	var versions []codersdk.TemplateVersion
	for range jobs {
		versions = append(versions, dep.pushVersion(t, quickTemplate, nil))
	}
	workers := map[uuid.UUID]bool{}
	for _, v := range versions {
		job := dep.awaitVersionJob(t, v)
		require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)
		workers[*job.WorkerID] = true
	}
	counts := runner.runCounts()
	require.Len(t, counts, jobs)
	for id, n := range counts {
		require.Equal(t, 1, n, "job %s ran %d times", id, n)
	}
	require.Eventually(t, func() bool {
		var total int64
		for _, d := range daemons {
			total += d.Stats().Succeeded
		}
		return total == jobs
	}, 10*time.Second, 10*time.Millisecond, "each daemon counts what it reported")
}

func TestDaemonConcurrency(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	runner := newScriptedRunner()
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: runner, Concurrency: 2})
	var versions []codersdk.TemplateVersion
	for range 3 {
		versions = append(versions, dep.pushVersion(t, quickTemplate, nil))
	}
	runner.awaitStarted(t)
	runner.awaitStarted(t)
	// Two run at once; the third waits in the queue.
	require.Eventually(t, func() bool { return d.Stats().Running == 2 }, 10*time.Second, 10*time.Millisecond)
	pending := 0
	for _, v := range versions {
		tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
		require.NoError(t, err)
		if tv.Job.Status == codersdk.ProvisionerJobPending {
			pending++
		}
	}
	require.Equal(t, 1, pending)
	close(runner.release)
	for _, v := range versions {
		require.Equal(t, codersdk.ProvisionerJobSucceeded, dep.awaitVersionJob(t, v).Status)
	}
}

func TestDaemonHeartbeatsKeepLongJobsAlive(t *testing.T) {
	t.Parallel()
	// A reaper that fails jobs silent for 1s, and a job that runs well
	// past that with no log lines: only heartbeats keep it.
	dep := newDeployment(t, &coderdtest.Options{HeartbeatTimeout: time.Second, ReapInterval: 100 * time.Millisecond})
	runner := newScriptedRunner()
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: runner, HeartbeatInterval: 200 * time.Millisecond})
	v := dep.pushVersion(t, quickTemplate, nil)
	runner.awaitStarted(t)
	// Let several reaper passes run over the job, then make sure it is
	// still running. The reaper runs every 100ms; 3s covers many passes.
	require.Never(t, func() bool {
		tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
		return err != nil || tv.Job.Status != codersdk.ProvisionerJobRunning
	}, 3*time.Second, 100*time.Millisecond)
	close(runner.release)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, dep.awaitVersionJob(t, v).Status)
	require.Equal(t, int64(0), d.Stats().Lost)
}

func TestDaemonTagsRouteJobs(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	plainRunner, gpuRunner := newScriptedRunner(), newScriptedRunner()
	close(plainRunner.release)
	close(gpuRunner.release)
	startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Name: "plain", Runner: plainRunner})
	gpu := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Name: "gpu", Runner: gpuRunner, Tags: map[string]string{"gpu": "true"}})

	v := dep.pushVersion(t, quickTemplate, map[string]string{"gpu": "true"})
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status)
	require.Equal(t, gpu.ID(), *job.WorkerID)
	require.Empty(t, plainRunner.runCounts())

	// An untagged job is the untagged daemon's alone, however many pass.
	for range 3 {
		v := dep.pushVersion(t, quickTemplate, nil)
		job := dep.awaitVersionJob(t, v)
		require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status)
		require.NotEqual(t, gpu.ID(), *job.WorkerID, "the gpu daemon took an untagged job")
	}
}

func TestDaemonStopsOnBadCredentials(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	c := codersdk.New(dep.srv.URL)
	c.Header = http.Header{codersdk.ProvisionerDaemonPSKHeader: {"wrong"}}
	logs := &testutil.LockedBuffer{}
	d := startDaemon(t, c, provisionerd.Options{Runner: newScriptedRunner(), Concurrency: 3, Logger: testutil.TeeLogger(t, logs)})
	select {
	case <-d.Done():
	case <-e2eContext(t).Done():
		t.Fatal("daemon did not stop")
	}
	require.True(t, codersdk.IsStatus(d.Err(), http.StatusUnauthorized), "err: %v", d.Err())
	require.Equal(t, 1, strings.Count(logs.String(), "coderd refused this daemon"), "said once, not once per loop")
}

func TestDaemonRunnerPanicFailsJob(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: panicRunner{}})
	v := dep.pushVersion(t, quickTemplate, nil)
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobFailed, job.Status)
	require.Equal(t, codersdk.JobErrorCodeInternal, job.ErrorCode)
	require.Contains(t, job.Error, "runner panic: boom")
	// The daemon lives on and takes the next job.
	v2 := dep.pushVersion(t, quickTemplate, nil)
	require.Equal(t, codersdk.ProvisionerJobFailed, dep.awaitVersionJob(t, v2).Status)
	awaitStats(t, d, provisionerd.Stats{Acquired: 2, Failed: 2})
}

type panicRunner struct{ provisionerd.JobRunner }

func (panicRunner) Import(_ context.Context, _ *codersdk.AcquiredJob, _ func(codersdk.ProvisionerLog)) (*codersdk.CompletedTemplateImport, error) {
	panic("boom")
}
