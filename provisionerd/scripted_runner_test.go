package provisionerd_test

import (
	"context"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// scriptedRunner is a JobRunner whose jobs the test controls: each job
// logs a line, announces itself on started, then waits for release (or,
// unless it ignores cancels, for its context), and announces its return
// on finished.
type scriptedRunner struct {
	started  *idQueue      // each job's ID as it starts
	finished *idQueue      // each job's ID as it returns
	release  chan struct{} // closed: every job returns success
	// ignoreCancel makes jobs deaf to their context, like a wedged runner.
	ignoreCancel bool

	mu   sync.Mutex
	runs map[uuid.UUID]int // guarded by mu
}

func newScriptedRunner() *scriptedRunner {
	return &scriptedRunner{started: newIDQueue(), finished: newIDQueue(), release: make(chan struct{}), runs: map[uuid.UUID]int{}}
}

func (r *scriptedRunner) run(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) error {
	r.mu.Lock()
	r.runs[job.JobID]++
	r.mu.Unlock()
	logf(codersdk.ProvisionerLog{Level: codersdk.ProvisionerLogLevelInfo, Stage: "Scripted", Output: "scripted job running"})
	r.started.push(job.JobID)
	defer r.finished.push(job.JobID)
	if r.ignoreCancel {
		<-r.release
		return nil
	}
	select {
	case <-r.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *scriptedRunner) Import(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) (*codersdk.CompletedTemplateImport, error) {
	if err := r.run(ctx, job, logf); err != nil {
		return nil, err
	}
	return &codersdk.CompletedTemplateImport{Readme: "scripted"}, nil
}

func (r *scriptedRunner) Build(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) (*codersdk.CompletedWorkspaceBuild, error) {
	if err := r.run(ctx, job, logf); err != nil {
		return &codersdk.CompletedWorkspaceBuild{State: []byte(`{"partial":true}`)}, err
	}
	return &codersdk.CompletedWorkspaceBuild{State: []byte(`{}`)}, nil
}

func (r *scriptedRunner) runCounts() map[uuid.UUID]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uuid.UUID]int, len(r.runs))
	for k, v := range r.runs {
		out[k] = v
	}
	return out
}

// awaitStarted waits for the runner to start a job.
func (r *scriptedRunner) awaitStarted(t testing.TB) uuid.UUID {
	t.Helper()
	return r.started.await(t, "no job started")
}

// awaitFinished waits for a job to return from the runner.
func (r *scriptedRunner) awaitFinished(t testing.TB) uuid.UUID {
	t.Helper()
	return r.finished.await(t, "no job finished")
}

// idQueue is an unbounded FIFO of job IDs: push never blocks, so a test
// that reads only some announcements (a benchmark reads started, never
// finished) cannot wedge the runner once a buffer fills.
type idQueue struct {
	signal chan struct{} // capacity 1: "ids may be non-empty"

	mu  sync.Mutex
	ids []uuid.UUID // guarded by mu
}

func newIDQueue() *idQueue { return &idQueue{signal: make(chan struct{}, 1)} }

func (q *idQueue) push(id uuid.UUID) {
	q.mu.Lock()
	q.ids = append(q.ids, id)
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default: // a wake-up is already pending
	}
}

// await pops the oldest ID, waiting for one until the test's deadline.
func (q *idQueue) await(t testing.TB, failure string) uuid.UUID {
	t.Helper()
	ctx := e2eContext(t)
	for {
		q.mu.Lock()
		if len(q.ids) > 0 {
			id := q.ids[0]
			q.ids = q.ids[1:]
			q.mu.Unlock()
			return id
		}
		q.mu.Unlock()
		select {
		case <-q.signal:
		case <-ctx.Done():
			t.Fatal(failure)
			return uuid.Nil
		}
	}
}

// TestScriptedRunnerNeverBlocksOnUnreadAnnouncements: a caller that reads
// only some of the runner's announcements (BenchmarkJobPickup reads
// started, never finished) must not wedge the runner once some buffer
// fills: it used to stop at the 101st job.
func TestScriptedRunnerNeverBlocksOnUnreadAnnouncements(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitShort)
	r := newScriptedRunner()
	close(r.release)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 300 {
			job := &codersdk.AcquiredJob{JobID: uuid.New()}
			_, _ = r.Import(ctx, job, func(codersdk.ProvisionerLog) {})
		}
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("the runner blocked on an announcement nobody read")
	}
}
