package provisionerd

import (
	"context"
	"errors"
	"fmt"
	"github.com/opencoder/coder/backoff"
	"log/slog"
	"sync"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// batcherOptions configure a logBatcher. Zero durations and sizes get the
// daemon's defaults.
type batcherOptions struct {
	// Send delivers one batch (possibly empty: a heartbeat) to coderd. Its
	// error is classified with classify: retried, dropped, or fatal.
	Send func(ctx context.Context, logs []codersdk.ProvisionerLog) error
	// Interval is the longest a line waits before it is sent.
	Interval time.Duration
	// Heartbeat is the longest coderd goes without an update: when no
	// batch was sent for this long, an empty one is.
	Heartbeat time.Duration
	// MaxBatch lines trigger an early flush, and no request carries more.
	MaxBatch int
	// MaxPending caps the lines held while coderd is unreachable; lines
	// beyond it are counted and replaced by one marker line.
	MaxPending int
	// RequestTimeout bounds each Send.
	RequestTimeout time.Duration
	// BackoffMin and BackoffMax space the retries of a failed Send.
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
}

// logBatcher streams one job's log lines to coderd in order, in batches,
// and doubles as the job's heartbeat.
//
// Concurrency: Add may be called from any goroutine. run is the only
// goroutine that calls Send, so batches leave in the order their lines were
// added; a failed batch goes back to the front of the queue. Flush and stop
// are called by the job's goroutine.
type logBatcher struct {
	// Set at construction, then read-only.
	opts   batcherOptions
	kick   chan struct{}     // cap 1: a full batch is waiting
	flushc chan flushRequest // Flush asks run to drain the queue
	stopc  chan struct{}     // closed by stop
	done   chan struct{}     // closed when run returns
	stop1  sync.Once

	mu      sync.Mutex
	pending []codersdk.ProvisionerLog // guarded by mu
	dropped int                       // lines refused since the queue filled; guarded by mu
	failed  error                     // a fatal Send error; no more sends; guarded by mu
}

type flushRequest struct {
	ctx   context.Context
	reply chan error
}

func newLogBatcher(opts batcherOptions) *logBatcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultLogFlushInterval
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeatInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultLogBatchSize
	}
	if opts.MaxPending < opts.MaxBatch {
		opts.MaxPending = max(100*opts.MaxBatch, 10_000)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = defaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	return &logBatcher{
		opts:   opts,
		kick:   make(chan struct{}, 1),
		flushc: make(chan flushRequest),
		stopc:  make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// Add queues a line. It never blocks on the network.
func (b *logBatcher) Add(l codersdk.ProvisionerLog) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed != nil {
		return
	}
	if len(b.pending) >= b.opts.MaxPending {
		b.dropped++
		return
	}
	if b.dropped > 0 {
		b.pending = append(b.pending, codersdk.ProvisionerLog{
			CreatedAt: l.CreatedAt,
			Level:     codersdk.ProvisionerLogLevelWarn,
			Stage:     l.Stage,
			Output:    fmt.Sprintf("[%d log lines dropped: coderd was unreachable and the daemon's buffer was full]", b.dropped),
		})
		b.dropped = 0
	}
	b.pending = append(b.pending, l)
	if len(b.pending) >= b.opts.MaxBatch {
		b.kickLocked()
	}
}

// kickLocked wakes run without blocking; b.mu must be held (it only
// orders the check of pending with the wake-up).
func (b *logBatcher) kickLocked() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// run sends batches until stop is called or ctx ends. ctx bounds every
// Send, so it must outlive the job's own cancellation: the final logs and
// heartbeats during the final report still need it.
func (b *logBatcher) run(ctx context.Context) {
	defer close(b.done)
	bo := backoff.New(b.opts.BackoffMin, b.opts.BackoffMax)
	flush := time.NewTicker(b.opts.Interval)
	defer flush.Stop()
	// heartbeat fires Heartbeat after the last successful send, or at the
	// next retry after a failed one.
	heartbeat := time.NewTimer(b.opts.Heartbeat)
	defer heartbeat.Stop()
	var retryAt time.Time // no attempt before this, after a failure

	// attempt sends one batch and arms the timers from its outcome.
	attempt := func(force bool) {
		switch err := b.sendOne(ctx, force); {
		case err == nil:
			bo.Reset()
			retryAt = time.Time{}
			heartbeat.Reset(b.opts.Heartbeat)
		case errors.Is(err, errNothingToSend):
		default:
			d := bo.Next()
			retryAt = time.Now().Add(d)
			heartbeat.Reset(d)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.stopc:
			return
		case req := <-b.flushc:
			req.reply <- b.drain(req.ctx, bo)
			retryAt = time.Time{}
			heartbeat.Reset(b.opts.Heartbeat)
		case <-b.kick:
			if time.Now().After(retryAt) {
				attempt(false)
			}
		case <-flush.C:
			if time.Now().After(retryAt) {
				attempt(false)
			}
		case <-heartbeat.C:
			attempt(true)
		}
	}
}

var errNothingToSend = errors.New("nothing to send")

// sendOne sends the oldest batch (or, with force, an empty heartbeat when
// there is nothing queued). A batch that failed for a reason worth retrying
// goes back to the front of the queue.
func (b *logBatcher) sendOne(ctx context.Context, force bool) error {
	b.mu.Lock()
	if b.failed != nil {
		err := b.failed
		b.mu.Unlock()
		return err
	}
	n := min(len(b.pending), b.opts.MaxBatch)
	if n == 0 && !force {
		b.mu.Unlock()
		return errNothingToSend
	}
	batch := b.pending[:n:n]
	b.pending = b.pending[n:]
	b.mu.Unlock()

	sctx, cancel := context.WithTimeout(ctx, b.opts.RequestTimeout)
	err := b.opts.Send(sctx, batch)
	cancel()

	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil {
		if len(b.pending) >= b.opts.MaxBatch {
			b.kickLocked()
		}
		return nil
	}
	switch classify(err) {
	case callRetry:
		b.pending = append(batch, b.pending...)
		return err
	case callLost:
		b.failed = err
		b.pending = nil
		return err
	default: // rejected: this batch can never be delivered; go on without it.
		b.opts.Logger.Warn("coderd rejected a batch of job logs; dropping it",
			slog.Int("lines", len(batch)), slog.Any("error", err))
		return nil
	}
}

// drain sends everything queued, retrying failures with backoff, until the
// queue is empty (nil), a fatal error, or ctx ends.
func (b *logBatcher) drain(ctx context.Context, bo *backoff.Backoff) error {
	for {
		err := b.sendOne(ctx, false)
		switch {
		case errors.Is(err, errNothingToSend):
			return nil
		case err == nil:
			bo.Reset()
			continue
		case classify(err) != callRetry:
			return err
		}
		if !bo.Wait(ctx) {
			return fmt.Errorf("flush job logs: %w (last error: %w)", ctx.Err(), err)
		}
	}
}

// Flush sends every queued line before it returns, retrying failed sends
// until ctx ends. The job calls it before reporting the result, so that
// anyone following the logs sees the last line before the job ends.
func (b *logBatcher) Flush(ctx context.Context) error {
	req := flushRequest{ctx: ctx, reply: make(chan error, 1)}
	select {
	case b.flushc <- req:
	case <-b.done:
		return errors.New("flush job logs: batcher stopped")
	case <-ctx.Done():
		return fmt.Errorf("flush job logs: %w", ctx.Err())
	}
	return <-req.reply
}

// Err is the fatal error that stopped sending, if any.
func (b *logBatcher) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

// stop ends run and waits for it; lines still queued are discarded (Flush
// first). It is idempotent.
func (b *logBatcher) stop() {
	b.stop1.Do(func() { close(b.stopc) })
	<-b.done
}
