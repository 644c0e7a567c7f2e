package provisionerd_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/provisionerd/terraform"
	"github.com/opencoder/coder/testutil"
)

// Sizes of BenchmarkJobThroughput's two runs.
const (
	throughputDaemons = 4
	// throughputQueueJobs go through the instant runner.
	throughputQueueJobs = 200
	// throughputTerraformJobs go through real Terraform. 200 of them take
	// four to eight minutes on two CPUs (0.45-0.9 builds/s measured: each
	// build is four Terraform commands, each starting the provider); 40
	// give the same rate in under two.
	throughputTerraformJobs = 40
)

// throughputTemplate is the smallest template that still exercises the
// coder provider: one data source read and one terraform_data resource.
var throughputTemplate = map[string]string{"main.tf": `
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}

data "coder_workspace" "me" {}

resource "terraform_data" "home" {
  input = data.coder_workspace.me.name
}
`}

// BenchmarkJobThroughput measures how many workspace builds per second
// throughputDaemons daemons finish when the queue is full: the builds are
// queued first (one workspace each, no daemon running), then the daemons
// start and the clock runs until coderd has accepted every result.
//
// It runs twice against its own coderd and PostgreSQL each time:
//
//   - queue: a runner that returns at once, so the figure is the ceiling
//     set by coderd, the database and the daemon protocol (acquire, logs,
//     complete);
//   - terraform: the real Terraform runner, with the coder provider from
//     the offline mirror (.toolchain). Each daemon has its own runner and
//     cache directory, as separate `coder provisioner start` processes do.
//     (The built-in daemons of `coder server` share one runner and plugin
//     cache; concurrent builds there can fail while another job's init
//     rewrites a provider in the cache, so this benchmark does not measure
//     that setup.)
//
// queue-share-% is the queue's part of a Terraform build's cost: the time
// per job of the first run over that of the second.
func BenchmarkJobThroughput(b *testing.B) {
	queueJobs, tfJobs := throughputQueueJobs, throughputTerraformJobs
	if testing.Short() {
		// The CI smoke: enough jobs to keep every daemon busy once.
		queueJobs, tfJobs = throughputDaemons*2, throughputDaemons
	}
	var queueRate, tfRate float64
	for b.Loop() {
		queueRate = measureThroughput(b, func() provisionerd.JobRunner { return instantRunner{} }, queueJobs)
		tfRate = measureThroughput(b, func() provisionerd.JobRunner { return newMirrorTerraformRunner(b) }, tfJobs)
	}
	b.ReportMetric(queueRate, "queue-jobs/s")
	b.ReportMetric(tfRate, "tf-jobs/s")
	b.ReportMetric(tfRate/queueRate*100, "queue-share-%")
}

// measureThroughput runs jobs builds of throughputTemplate through
// throughputDaemons daemons, each with a runner from newRunner, and returns
// builds per second. Only the drain of the full queue is timed.
func measureThroughput(b *testing.B, newRunner func() provisionerd.JobRunner, jobs int) float64 {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	ctx := coderdtest.Context(b, 15*time.Minute)
	dep := newDeployment(b, nil)
	daemonClient := daemonClient(dep.srv.URL)

	// The import, by a daemon of its own; it also warms the plugin cache.
	importer := startDaemon(b, daemonClient, provisionerd.Options{Name: "importer", Runner: newRunner(), Logger: discard()})
	v := dep.pushVersion(b, throughputTemplate, nil)
	job := coderdtest.AwaitJob(b, func() (codersdk.ProvisionerJob, error) {
		tv, err := dep.owner.TemplateVersion(ctx, v.ID)
		return tv.Job, err
	})
	require.Equal(b, codersdk.ProvisionerJobSucceeded, job.Status, "import: %s", job.Error)
	require.NoError(b, importer.Shutdown(ctx))

	tmpl, err := dep.owner.CreateTemplate(ctx, dep.org, codersdk.CreateTemplateRequest{Name: "throughput", VersionID: v.ID})
	require.NoError(b, err)
	for i := range jobs {
		_, err := dep.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{
			TemplateID: tmpl.ID, Name: fmt.Sprintf("ws%d", i),
		})
		require.NoError(b, err)
	}

	runners := make([]provisionerd.JobRunner, throughputDaemons)
	for i := range runners {
		runners[i] = newRunner()
	}
	b.StartTimer()
	start := time.Now()
	daemons := make([]*provisionerd.Daemon, throughputDaemons)
	for i := range daemons {
		daemons[i] = startDaemon(b, daemonClient, provisionerd.Options{
			Name: fmt.Sprintf("bench-%d", i), Runner: runners[i], Logger: discard(),
		})
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var done, bad int64
		for _, d := range daemons {
			s := d.Stats()
			done += s.Succeeded
			bad += s.Failed + s.Canceled + s.Lost
		}
		require.Zero(b, bad, "a build did not succeed: %+v", statsOf(daemons))
		if done == int64(jobs) {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			b.Fatalf("%d of %d builds done: %v", done, jobs, ctx.Err())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	for _, d := range daemons {
		require.NoError(b, d.Shutdown(ctx))
	}
	b.Logf("%d builds through %d daemons in %s", jobs, throughputDaemons, elapsed.Round(time.Millisecond))
	return float64(jobs) / elapsed.Seconds()
}

// instantRunner succeeds at once with an empty result.
type instantRunner struct{}

func (instantRunner) Import(context.Context, *codersdk.AcquiredJob, func(codersdk.ProvisionerLog)) (*codersdk.CompletedTemplateImport, error) {
	return &codersdk.CompletedTemplateImport{}, nil
}

func (instantRunner) Build(context.Context, *codersdk.AcquiredJob, func(codersdk.ProvisionerLog)) (*codersdk.CompletedWorkspaceBuild, error) {
	return &codersdk.CompletedWorkspaceBuild{State: []byte(`{}`)}, nil
}

// newMirrorTerraformRunner is the real runner with the project's offline
// toolchain: Terraform from PATH, providers from .toolchain/mirror only.
func newMirrorTerraformRunner(b *testing.B) *provisionerd.TerraformRunner {
	b.Helper()
	rc := testutil.ToolchainConfig(b)
	r, err := provisionerd.NewTerraformRunner(coderdtest.Context(b, time.Minute), terraform.Options{
		CacheDir:       b.TempDir(),
		CLIConfigFile:  rc,
		InterruptGrace: time.Minute,
		Logger:         discard(),
	})
	require.NoError(b, err)
	return r
}

// statsOf is each daemon's counters, for failure messages.
func statsOf(ds []*provisionerd.Daemon) []provisionerd.Stats {
	out := make([]provisionerd.Stats, len(ds))
	for i, d := range ds {
		out[i] = d.Stats()
	}
	return out
}
