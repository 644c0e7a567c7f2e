package provisionerd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/testutil"
)

func TestDaemonReconnectsWhenCoderdComesBack(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	proxy := newToggleProxy(t, dep.srv.URL)
	proxy.down()

	logs := &testutil.LockedBuffer{}
	runner := newScriptedRunner()
	close(runner.release)
	d := startDaemon(t, daemonClient(proxy.URL()), provisionerd.Options{
		Runner: runner, Concurrency: 3, Logger: testutil.TeeLogger(t, logs),
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	})
	// Many failed retries (3 loops, 10-50ms apart), one log line.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "cannot reach coderd") }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return strings.Count(logs.String(), "acquire job failed") >= 10 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, strings.Count(logs.String(), "cannot reach coderd"), "one line per outage, not per retry")

	v := dep.pushVersion(t, quickTemplate, nil)
	proxy.up()
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status)
	require.Equal(t, d.ID(), *job.WorkerID)
	require.Equal(t, 1, strings.Count(logs.String(), "reconnected to coderd"))
}

func TestDaemonFinishesJobAcrossAnOutage(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil) // default reaper: ~30s, well past the outage
	proxy := newToggleProxy(t, dep.srv.URL)
	runner := newScriptedRunner()
	d := startDaemon(t, daemonClient(proxy.URL()), provisionerd.Options{
		Runner: runner, HeartbeatInterval: 100 * time.Millisecond, LogFlushInterval: 10 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, ReportTimeout: time.Minute,
	})
	v := dep.pushVersion(t, quickTemplate, nil)
	runner.awaitStarted(t)

	// coderd goes away while the job runs, and the job ends meanwhile:
	// its last logs and its result wait for coderd to come back.
	proxy.down()
	close(runner.release)
	runner.awaitFinished(t)
	tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobRunning, tv.Job.Status, "not reported yet: coderd is unreachable")
	require.Equal(t, int64(0), d.Stats().Succeeded, "counted once reported")

	proxy.up()
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status)
	require.Contains(t, dep.versionLogs(t, v.ID), "scripted job running")
	require.Eventually(t, func() bool { return d.Stats().Succeeded == 1 }, 10*time.Second, 10*time.Millisecond)
}

func TestDaemonDropsJobReapedDuringOutage(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, &coderdtest.Options{HeartbeatTimeout: 500 * time.Millisecond, ReapInterval: 50 * time.Millisecond})
	proxy := newToggleProxy(t, dep.srv.URL)
	runner := newScriptedRunner()
	d := startDaemon(t, daemonClient(proxy.URL()), provisionerd.Options{
		Runner: runner, HeartbeatInterval: 100 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	v := dep.pushVersion(t, quickTemplate, nil)
	runner.awaitStarted(t)

	// Silent past the reaper's deadline: coderd fails the job as gone.
	proxy.down()
	job := dep.awaitVersionJob(t, v)
	require.Equal(t, codersdk.JobErrorCodeDaemonGone, job.ErrorCode)

	// Back online, the daemon learns the job is no longer its own, stops
	// the runner and reports nothing over coderd's verdict.
	proxy.up()
	require.Eventually(t, func() bool { return d.Stats().Lost == 1 }, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return d.Stats().Running == 0 }, 30*time.Second, 10*time.Millisecond)
	tv, err := dep.owner.TemplateVersion(e2eContext(t), v.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.JobErrorCodeDaemonGone, tv.Job.ErrorCode)
	require.Equal(t, int64(0), d.Stats().Succeeded+d.Stats().Failed+d.Stats().Canceled)

	// And it takes new work.
	close(runner.release)
	next := dep.pushVersion(t, quickTemplate, nil)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, dep.awaitVersionJob(t, next).Status)
}
