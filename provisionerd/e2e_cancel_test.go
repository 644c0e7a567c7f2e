package provisionerd_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
)

// startSlowBuild imports slowTemplate, creates a workspace, and waits until
// its build's apply is in the sleeping provisioner (the first resource is
// then in Terraform's state).
func startSlowBuild(t *testing.T, dep *deployment) codersdk.Workspace {
	t.Helper()
	v := dep.pushVersion(t, slowTemplate, nil)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, dep.awaitVersionJob(t, v).Status)
	ws := dep.createWorkspace(t, v)
	require.Eventually(t, func() bool {
		return strings.Contains(dep.buildLogs(t, ws.LatestBuild.ID), "sleeping-now")
	}, time.Minute, 100*time.Millisecond, "the build never reached its sleeping provisioner")
	return ws
}

func TestDaemonCancelInterruptsTerraform(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: newTerraformRunner(t), HeartbeatInterval: 200 * time.Millisecond})
	ws := startSlowBuild(t, dep)

	require.NoError(t, dep.owner.CancelWorkspaceBuild(e2eContext(t), ws.LatestBuild.ID))
	job := dep.awaitBuildJob(t, ws.LatestBuild.ID)
	require.Equal(t, codersdk.ProvisionerJobCanceled, job.Status)
	require.Equal(t, codersdk.JobErrorCodeCanceled, job.ErrorCode)

	// Terraform was interrupted, not killed: it saved the resource it had
	// created, and coderd keeps that partial state for the next build.
	logs := dep.buildLogs(t, ws.LatestBuild.ID)
	require.Contains(t, logs, "[Canceling] Job canceled: interrupting Terraform")
	require.Contains(t, logs, "Interrupt received")
	require.Contains(t, string(dep.buildState(t, job.ID)), `"first"`)
	awaitStats(t, d, provisionerd.Stats{Acquired: 2, Succeeded: 1, Canceled: 1})
}

func TestDaemonShutdownWaitsForRunningJobs(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	runner := newScriptedRunner()
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: runner})
	v := dep.pushVersion(t, quickTemplate, nil)
	runner.awaitStarted(t)

	shutdown := make(chan error, 1)
	go func() { shutdown <- d.Shutdown(e2eContext(t)) }()
	// Shutdown waits for the job, and takes no new one meanwhile.
	next := dep.pushVersion(t, quickTemplate, nil)
	require.Never(t, func() bool { return len(shutdown) > 0 }, 500*time.Millisecond, 50*time.Millisecond)
	close(runner.release)
	require.NoError(t, <-shutdown)

	require.Equal(t, codersdk.ProvisionerJobSucceeded, dep.awaitVersionJob(t, v).Status)
	tv, err := dep.owner.TemplateVersion(e2eContext(t), next.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobPending, tv.Job.Status, "a draining daemon takes no new job")
	require.Equal(t, provisionerd.Stats{Acquired: 1, Succeeded: 1}, d.Stats())
}

func TestDaemonShutdownGraceInterruptsTerraform(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Name: "leaving", Runner: newTerraformRunner(t)})
	ws := startSlowBuild(t, dep)

	ctx, cancel := context.WithTimeout(e2eContext(t), 200*time.Millisecond)
	defer cancel()
	err := d.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	// Shutdown returned only after the job was reported.
	b, err := dep.owner.WorkspaceBuild(e2eContext(t), ws.LatestBuild.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobFailed, b.Job.Status)
	require.Equal(t, codersdk.JobErrorCodeDaemonShutdown, b.Job.ErrorCode)
	require.Contains(t, b.Job.Error, "Provisioner daemon leaving shut down before the job finished")
	require.Contains(t, string(dep.buildState(t, b.Job.ID)), `"first"`, "the partial state is kept")
	require.Contains(t, dep.buildLogs(t, ws.LatestBuild.ID), "Provisioner daemon leaving is shutting down: interrupting Terraform")
	require.Equal(t, int64(1), d.Stats().Failed)
}

func TestDaemonCloseReportsRunningJobs(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	runner := newScriptedRunner()
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: runner, Concurrency: 2})
	a := dep.pushVersion(t, quickTemplate, nil)
	b := dep.pushVersion(t, quickTemplate, nil)
	runner.awaitStarted(t)
	runner.awaitStarted(t)

	require.NoError(t, d.Close())
	for _, v := range []codersdk.TemplateVersion{a, b} {
		tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
		require.NoError(t, err)
		require.Equal(t, codersdk.ProvisionerJobFailed, tv.Job.Status, "reported before Close returned")
		require.Equal(t, codersdk.JobErrorCodeDaemonShutdown, tv.Job.ErrorCode)
	}
	require.NoError(t, d.Close(), "Close is idempotent")
	require.NoError(t, d.Shutdown(e2eContext(t)))
}

func TestDaemonForceCancelsWedgedRunner(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	runner := newScriptedRunner()
	runner.ignoreCancel = true
	d := startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{
		Runner: runner, HeartbeatInterval: 100 * time.Millisecond, ForceCancelGrace: 500 * time.Millisecond,
	})
	v := dep.pushVersion(t, quickTemplate, nil)
	runner.awaitStarted(t)

	require.NoError(t, dep.owner.CancelTemplateVersion(e2eContext(t), v.ID))
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobCanceled, job.Status, "a runner deaf to the cancel does not keep the job running")
	require.Contains(t, job.Error, "did not stop within 500ms")

	// The wedged runner is still joined: Close waits for it.
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	require.Never(t, func() bool { return len(closed) > 0 }, 300*time.Millisecond, 50*time.Millisecond)
	close(runner.release)
	require.NoError(t, <-closed)
}

func TestDaemonShutdownBeforeStart(t *testing.T) {
	t.Parallel()
	d := provisionerd.New(codersdk.New(&url.URL{Scheme: "http", Host: "127.0.0.1:1"}), provisionerd.Options{Runner: newScriptedRunner()})
	require.NoError(t, d.Shutdown(e2eContext(t)))
	d.Start() // no effect after Shutdown
	<-d.Done()
	require.NoError(t, d.Close())
}
