package coderd_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

var mainTF = map[string]string{"main.tf": `terraform {}`}

func setupQueue(t *testing.T, opts *coderdtest.Options) (owner, daemon *codersdk.Client, org uuid.UUID, srv *coderdtest.Server) {
	t.Helper()
	if opts == nil {
		opts = &coderdtest.Options{}
	}
	opts.ProvisionerPSK = coderdtest.TestPSK
	client, srv := coderdtest.New(t, opts)
	first := coderdtest.CreateFirstUser(t, client)
	return client, coderdtest.DaemonClient(client), first.OrganizationID, srv
}

func TestAcquireConcurrentDaemonsNeverShareAJob(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	const jobs = 20
	want := map[uuid.UUID]bool{}
	for range jobs {
		v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
		want[v.Job.ID] = true
	}
	ctx := testutil.Context(t, time.Minute)
	var (
		mu  sync.Mutex
		got = map[uuid.UUID]int{}
		wg  sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := uuid.New()
			for {
				job, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: id, WaitSeconds: 0})
				if err != nil || job == nil {
					return
				}
				mu.Lock()
				got[job.JobID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Len(t, got, jobs)
	for id, n := range got {
		require.True(t, want[id], "unknown job %s", id)
		require.Equal(t, 1, n, "job %s acquired %d times", id, n)
	}
}

func TestAcquireTagRouting(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, map[string]string{"gpu": "yes"})
	ctx := testutil.Context(t, 30*time.Second)

	plain, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), WaitSeconds: 0})
	require.NoError(t, err)
	require.Nil(t, plain, "an untagged daemon must not take a tagged job")
	wrong, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Tags: map[string]string{"gpu": "no"}, WaitSeconds: 0})
	require.NoError(t, err)
	require.Nil(t, wrong)

	job := coderdtest.AcquireJob(t, daemon, uuid.New(), map[string]string{"gpu": "yes", "extra": "ok"})
	require.Equal(t, v.Job.ID, job.JobID)

	// An untagged job goes only to an untagged daemon.
	untagged := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	tagged, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Tags: map[string]string{"gpu": "yes"}, WaitSeconds: 0})
	require.NoError(t, err)
	require.Nil(t, tagged, "a tagged daemon must not take an untagged job")
	require.Equal(t, untagged.Job.ID, coderdtest.AcquireJob(t, daemon, uuid.New(), nil).JobID)
	require.NotEmpty(t, job.TemplateSourceArchive)
	require.NotNil(t, job.TemplateImport)
	require.Equal(t, "start", job.TemplateImport.Metadata.WorkspaceTransition)
	require.Contains(t, job.TemplateImport.Metadata.AgentScripts["linux_amd64"], "coder-linux-amd64")
}

// A pending job says how many daemons could take it, by the acquire rule.
func TestMatchedProvisioners(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, 30*time.Second)
	matched := func(v codersdk.TemplateVersion) codersdk.MatchedProvisioners {
		t.Helper()
		got, err := owner.TemplateVersion(ctx, v.ID)
		require.NoError(t, err)
		require.Equal(t, codersdk.ProvisionerJobPending, got.Job.Status)
		require.NotNil(t, got.Job.MatchedProvisioners)
		return *got.Job.MatchedProvisioners
	}
	gpu := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, map[string]string{"gpu": "yes"})
	require.Equal(t, codersdk.MatchedProvisioners{}, matched(gpu), "no daemon has connected")

	// Daemons that cannot take it register by polling: one with other
	// tags, one untagged.
	for _, tags := range []map[string]string{{"gpu": "no"}, nil} {
		j, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Tags: tags, WaitSeconds: 0})
		require.NoError(t, err)
		require.Nil(t, j)
	}
	require.Equal(t, codersdk.MatchedProvisioners{}, matched(gpu))

	// An untagged job has the untagged daemon, not the tagged ones.
	plain := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	require.Equal(t, codersdk.MatchedProvisioners{Count: 1, Available: 1}, matched(plain))
	// A gpu=yes daemon with more tags matches the gpu job (and takes it).
	require.Equal(t, gpu.Job.ID, coderdtest.AcquireJob(t, daemon, uuid.New(), map[string]string{"gpu": "yes", "zone": "a"}).JobID)
	got, err := owner.TemplateVersion(ctx, gpu.ID)
	require.NoError(t, err)
	require.Nil(t, got.Job.MatchedProvisioners, "only a pending job carries the count")
}

func TestAcquireIsWokenByNotify(t *testing.T) {
	t.Parallel()
	// With the safety-net poll far away, only NOTIFY can wake the waiter.
	owner, daemon, org, _ := setupQueue(t, &coderdtest.Options{AcquirePollInterval: time.Hour})
	ctx := testutil.Context(t, time.Minute)
	type result struct {
		job *codersdk.AcquiredJob
		err error
	}
	done := make(chan result, 1)
	go func() {
		job, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), WaitSeconds: 45})
		done <- result{job, err}
	}()
	// Queue only once the daemon is registered (it registers before waiting).
	require.Eventually(t, func() bool {
		ds, err := owner.ProvisionerDaemons(ctx, org)
		return err == nil && len(ds) == 1
	}, 30*time.Second, 20*time.Millisecond)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	res := <-done
	require.NoError(t, res.err)
	require.NotNil(t, res.job, "the waiting daemon was not woken")
	require.Equal(t, v.Job.ID, res.job.JobID)
}

func TestReaperFailsSilentJobs(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, &coderdtest.Options{HeartbeatTimeout: 2 * time.Second, ReapInterval: 100 * time.Millisecond})
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	id := uuid.New()
	coderdtest.AcquireJob(t, daemon, id, nil)
	ctx := testutil.Context(t, time.Minute)
	job := coderdtest.AwaitJob(t, func() (codersdk.ProvisionerJob, error) {
		tv, err := owner.TemplateVersion(ctx, v.ID)
		return tv.Job, err
	})
	require.Equal(t, codersdk.ProvisionerJobFailed, job.Status)
	require.Equal(t, codersdk.JobErrorCodeDaemonGone, job.ErrorCode)
	require.Contains(t, job.Error, "stopped responding")
	logs, _, err := owner.TemplateVersionLogsAfter(ctx, v.ID, 0, false)
	require.NoError(t, err)
	var found bool
	for l := range logs {
		found = found || (l.Level == codersdk.ProvisionerLogLevelError && bytes.Contains([]byte(l.Output), []byte("stopped responding")))
	}
	require.True(t, found, "the reaper's reason is in the job logs")
	// The late daemon is told the job is no longer its own.
	_, err = daemon.UpdateJob(ctx, job.ID, codersdk.UpdateJobRequest{DaemonID: id})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "got %v", err)
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)

	// Pending: canceled at once, never acquired.
	pending := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, map[string]string{"nobody": "serves"})
	require.NoError(t, owner.CancelTemplateVersion(ctx, pending.ID))
	tv, err := owner.TemplateVersion(ctx, pending.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobCanceled, tv.Job.Status)
	err = owner.CancelTemplateVersion(ctx, pending.ID)
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "second cancel: %v", err)

	// Running: canceling until the daemon reports it stopped.
	running := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.Equal(t, running.Job.ID, job.JobID)
	resp, err := daemon.UpdateJob(ctx, job.JobID, codersdk.UpdateJobRequest{DaemonID: id})
	require.NoError(t, err)
	require.False(t, resp.Canceled)
	require.NoError(t, owner.CancelTemplateVersion(ctx, running.ID))
	tv, err = owner.TemplateVersion(ctx, running.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobCanceling, tv.Job.Status)
	resp, err = daemon.UpdateJob(ctx, job.JobID, codersdk.UpdateJobRequest{DaemonID: id})
	require.NoError(t, err)
	require.True(t, resp.Canceled)
	require.NoError(t, daemon.FailJob(ctx, job.JobID, codersdk.FailJobRequest{DaemonID: id, Error: "Terraform interrupted", ErrorCode: codersdk.JobErrorCodeCanceled}))
	tv, err = owner.TemplateVersion(ctx, running.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobCanceled, tv.Job.Status)
}

func TestJobBelongsToItsWorker(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	ctx := testutil.Context(t, 30*time.Second)
	other := uuid.New()
	_, err := daemon.UpdateJob(ctx, job.JobID, codersdk.UpdateJobRequest{DaemonID: other})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "update by another daemon: %v", err)
	err = daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: other, TemplateImport: &codersdk.CompletedTemplateImport{}})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "complete by another daemon: %v", err)
	// Wrong shape for the job type.
	err = daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "complete without result: %v", err)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{}}))
	err = daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{}})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "complete twice: %v", err)
}

func TestDaemonAuth(t *testing.T) {
	t.Parallel()
	owner, _, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, 30*time.Second)
	req := codersdk.AcquireJobRequest{DaemonID: uuid.New(), WaitSeconds: 0}

	anon := codersdk.New(owner.URL)
	_, err := anon.AcquireJob(ctx, req)
	require.True(t, codersdk.IsStatus(err, http.StatusUnauthorized), "%v", err)

	badPSK := codersdk.New(owner.URL)
	badPSK.Header = http.Header{codersdk.ProvisionerDaemonPSKHeader: {"wrong"}}
	_, err = badPSK.AcquireJob(ctx, req)
	require.True(t, codersdk.IsStatus(err, http.StatusUnauthorized), "%v", err)

	member, _ := coderdtest.CreateAnotherUser(t, owner)
	_, err = member.AcquireJob(ctx, req)
	require.True(t, codersdk.IsStatus(err, http.StatusForbidden), "%v", err)

	// A key carries its tags; the daemon may not override them.
	key, err := owner.CreateProvisionerKey(ctx, org, codersdk.CreateProvisionerKeyRequest{Name: "fleet", Tags: map[string]string{"pool": "a"}})
	require.NoError(t, err)
	keyed := codersdk.New(owner.URL)
	keyed.Header = http.Header{codersdk.ProvisionerDaemonKeyHeader: {key.Key}}
	_, err = keyed.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Tags: map[string]string{"pool": "b"}})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "%v", err)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, map[string]string{"pool": "a"})
	job, err := keyed.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), WaitSeconds: 5})
	require.NoError(t, err)
	require.NotNil(t, job)
	require.Equal(t, v.Job.ID, job.JobID)

	_, err = owner.CreateProvisionerKey(ctx, org, codersdk.CreateProvisionerKeyRequest{Name: "fleet"})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "%v", err)
	keys, err := owner.ProvisionerKeys(ctx, org)
	require.NoError(t, err)
	require.Len(t, keys, 1)
	require.NoError(t, owner.DeleteProvisionerKey(ctx, org, "fleet"))
	_, err = keyed.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New()})
	require.True(t, codersdk.IsStatus(err, http.StatusUnauthorized), "deleted key: %v", err)

	daemons, err := owner.ProvisionerDaemons(ctx, org)
	require.NoError(t, err)
	require.NotEmpty(t, daemons)
	_, err = member.ProvisionerDaemons(ctx, org)
	require.True(t, codersdk.IsStatus(err, http.StatusNotFound), "%v", err)
}

func TestJobLogsFollow(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	ctx := testutil.Context(t, time.Minute)
	logs, streamErr, err := owner.TemplateVersionLogsAfter(ctx, v.ID, 0, true)
	require.NoError(t, err)
	const batches, perBatch = 5, 20
	go func() {
		for b := range batches {
			var lines []codersdk.ProvisionerLog
			for i := range perBatch {
				lines = append(lines, codersdk.ProvisionerLog{Level: codersdk.ProvisionerLogLevelInfo, Stage: "Planning", Output: string(rune('a'+b)) + string(rune('0'+i%10))})
			}
			_, _ = daemon.UpdateJob(ctx, job.JobID, codersdk.UpdateJobRequest{DaemonID: id, Logs: lines})
		}
		_ = daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{}})
	}()
	var got []codersdk.ProvisionerJobLog
	for l := range logs {
		got = append(got, l)
	}
	require.NoError(t, streamErr())
	require.Len(t, got, batches*perBatch, "the stream ends after the job ends, with every line")
	for i := 1; i < len(got); i++ {
		require.Greater(t, got[i].ID, got[i-1].ID, "lines arrive in order")
	}
	// Resuming after an ID returns only what follows it.
	rest, _, err := owner.TemplateVersionLogsAfter(ctx, v.ID, got[len(got)-11].ID, false)
	require.NoError(t, err)
	n := 0
	for range rest {
		n++
	}
	require.Equal(t, 10, n)
}
