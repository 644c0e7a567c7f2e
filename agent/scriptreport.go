package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// scriptResults is how finished script runs reach coderd
// (POST /workspaceagents/me/script-completed): record never blocks a
// script, and only the latest unsent run of each script is kept, so a cron
// script failing every minute while coderd is down holds one entry, not
// one per run. run sends them with backoff (batchReporter).
type scriptResults struct {
	log    *slog.Logger
	report func(context.Context, codersdk.PostAgentScriptCompletedRequest) error
	wake   chan struct{}

	mu       sync.Mutex
	pending  map[int]codersdk.PostAgentScriptCompletedRequest // by script index
	inFlight bool
	changed  chan struct{} // closed and replaced whenever pending or inFlight change
}

func newScriptResults(log *slog.Logger, report func(context.Context, codersdk.PostAgentScriptCompletedRequest) error) *scriptResults {
	return &scriptResults{log: log, report: report, wake: make(chan struct{}, 1),
		pending: map[int]codersdk.PostAgentScriptCompletedRequest{}, changed: make(chan struct{})}
}

// record queues a finished run, replacing an unsent earlier run of the
// same script.
func (r *scriptResults) record(res codersdk.PostAgentScriptCompletedRequest) {
	r.mu.Lock()
	r.pending[res.ScriptIndex] = res
	r.changedLocked()
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *scriptResults) changedLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// take removes and returns the pending run of the lowest script index.
func (r *scriptResults) take() (codersdk.PostAgentScriptCompletedRequest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	best, found := 0, false
	for i := range r.pending {
		if !found || i < best {
			best, found = i, true
		}
	}
	res := r.pending[best]
	delete(r.pending, best)
	r.inFlight = found
	r.changedLocked()
	return res, found
}

// settle ends a send: a failed run goes back unless a newer run of the
// script was recorded meanwhile.
func (r *scriptResults) settle(res codersdk.PostAgentScriptCompletedRequest, accepted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, newer := r.pending[res.ScriptIndex]; !accepted && !newer {
		r.pending[res.ScriptIndex] = res
	}
	r.inFlight = false
	r.changedLocked()
}

// len is the number of runs waiting to be sent.
func (r *scriptResults) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

// run sends recorded runs until ctx ends.
func (r *scriptResults) run(ctx context.Context) {
	batchReporter[codersdk.PostAgentScriptCompletedRequest]{
		log: r.log, what: "script result", wake: r.wake,
		retryMin: 250 * time.Millisecond, retryMax: 10 * time.Second,
		take: r.take, report: r.report, settle: r.settle,
	}.run(ctx)
}

// flush waits until every recorded run was sent (or refused) or ctx ends.
func (r *scriptResults) flush(ctx context.Context) error {
	for {
		r.mu.Lock()
		done := len(r.pending) == 0 && !r.inFlight
		ch := r.changed
		r.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
