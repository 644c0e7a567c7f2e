package agent

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/codersdk"
)

// batchReporter is how the agent sends changes to coderd (app health,
// metadata results): what changed within the batch window goes in one
// request, retried with backoff while coderd fails; a request coderd
// refuses (4xx) is logged and dropped, since sending it again cannot
// succeed.
type batchReporter[B any] struct {
	log                *slog.Logger
	what               string // "app health", "metadata": for log lines
	wake               <-chan struct{}
	batchWindow        time.Duration
	retryMin, retryMax time.Duration
	// take returns the pending changes, or ok=false when there are none.
	take   func() (batch B, ok bool)
	report func(ctx context.Context, batch B) error
	// settle records a batch as accepted, or puts it back to retry
	// (unless newer changes replaced it meanwhile).
	settle func(batch B, accepted bool)
}

// reportTimeout bounds one report request.
const reportTimeout = 30 * time.Second

// run sends batches until ctx ends.
func (r batchReporter[B]) run(ctx context.Context) {
	bo := backoff.New(r.retryMin, r.retryMax)
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
		if r.batchWindow > 0 && !sleep(ctx, r.batchWindow) {
			return
		}
		for attempt := 1; ; attempt++ {
			batch, ok := r.take()
			if !ok {
				break
			}
			// One request may not hang the reporter: an answer that never
			// comes (a dead connection, a stuck handler) is an error to
			// log and retry on a fresh request.
			rctx, cancel := context.WithTimeout(ctx, reportTimeout)
			err := r.report(rctx, batch)
			cancel()
			if err == nil {
				r.settle(batch, true)
				bo.Reset()
				attempt = 0
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if refusedByCoderd(err) {
				r.log.Error("coderd refused a "+r.what+" report; dropping it", "error", err)
				continue
			}
			r.settle(batch, false)
			if attempt == 1 || attempt%10 == 0 {
				r.log.Warn("report "+r.what+" failed; retrying", "attempt", attempt, "error", err)
			}
			if !bo.Wait(ctx) {
				return
			}
		}
	}
}

// refusedByCoderd reports whether err is a 4xx answer that retrying cannot
// fix (anything but 408 and 429).
func refusedByCoderd(err error) bool {
	var apiErr *codersdk.Error
	if !errors.As(err, &apiErr) {
		return false
	}
	code := apiErr.StatusCode()
	return code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests
}
