// Package logbatch streams log lines to a server that may be down: lines
// are queued without blocking the writer, sent in order in bounded batches
// by one goroutine, retried with the shared backoff while the server is
// unreachable, and held in a bounded buffer meanwhile. When the buffer is
// full, lines are dropped (the newest or the oldest, by Options.Overflow)
// and the gap is shown to readers by one counted marker line, so a log never
// silently loses lines and a long outage never grows memory without limit.
//
// It is generic over the line type. Its users are the provisioner daemon
// (a job's log, whose sends double as the job's heartbeat) and the
// workspace agent (its scripts' output).
//
// House rules: one goroutine (Run) calls Send, so batches leave in the order
// their lines were added; Add never touches the network; every goroutine is
// started by the caller (go b.Run(ctx)) and joined by Stop.
package logbatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/opencoder/coder/backoff"
)

// Defaults for zero Options fields.
const (
	DefaultInterval       = 250 * time.Millisecond
	DefaultMaxBatch       = 100
	DefaultRequestTimeout = 30 * time.Second
)

// Outcome is what a failed Send means for its batch, as Options.Classify
// decides.
type Outcome int

const (
	// Retry: the server is unreachable or failing (network error, 5xx,
	// 429). The batch goes back to the front of the queue and is resent
	// after a backoff.
	Retry Outcome = iota
	// Drop: the server refused this batch for good (a 4xx); retrying the
	// same request cannot help. The batch is dropped and sending goes on.
	Drop
	// Stop: the server will accept no more lines (the job is gone, the
	// log's budget is spent). Nothing more is queued or sent; Err and
	// Flush return the error.
	Stop
)

// Overflow says which lines give way when MaxPending lines are queued.
type Overflow int

const (
	// DropNewest refuses new lines while the queue is full, keeping the
	// beginning of the log (where a build's first error usually is).
	DropNewest Overflow = iota
	// DropOldest discards the oldest queued lines to make room, keeping
	// the most recent output (what a user looks at after an outage).
	DropOldest
)

// ErrStopped is returned by Flush once Stop was called.
var ErrStopped = errors.New("log batcher stopped")

// Options configure a Batcher. Zero values get the defaults.
type Options[T any] struct {
	// Send delivers one batch, in order; with a Heartbeat it may be empty.
	// Its error is classified by Classify. Required.
	Send func(ctx context.Context, lines []T) error
	// Classify decides what a Send error means. Default: Retry.
	Classify func(error) Outcome
	// Marker builds the line that stands for dropped lines just before
	// next (n ≥ 1), e.g. "[n log lines dropped ...]" with next's time
	// and source. Default: gaps are not marked.
	Marker func(dropped int, next T) T
	// Stamp is applied to every line Add queues, e.g. to set a missing
	// timestamp. Default: none.
	Stamp func(T) T
	// Interval is the longest a line waits before it is sent.
	Interval time.Duration
	// Heartbeat, when positive, is the longest the server goes without a
	// Send: when no batch was sent for this long, an empty one is.
	// Default: no heartbeat.
	Heartbeat time.Duration
	// MaxBatch lines trigger an early send, and no batch carries more
	// (counting marker lines).
	MaxBatch int
	// MaxPending caps the lines queued while the server is unreachable
	// (a batch being sent is not counted). Default, and minimum:
	// max(100*MaxBatch, 10,000).
	MaxPending int
	// Overflow picks the lines dropped when the queue is full.
	Overflow Overflow
	// RequestTimeout bounds each Send.
	RequestTimeout time.Duration
	// BackoffMin and BackoffMax space the retries of a failed Send
	// (backoff's defaults when zero).
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
}

// Batcher queues lines and sends them in batches. See the package
// documentation.
//
// Concurrency: Add, Flush, Err and Pending may be called from any
// goroutine. Run is the only goroutine that calls Send. Stop is called once
// by the owner, after which Run has returned.
type Batcher[T any] struct {
	// Set in New, then read-only.
	opts   Options[T]
	kick   chan struct{}     // cap 1: a full batch is waiting
	flushc chan flushRequest // Flush asks Run to drain the queue
	// stopped ends with Stop; it cancels Run's context, so a Send in
	// flight (to a server that hangs) does not hold Stop up.
	stopped context.Context
	stop    context.CancelFunc
	done    chan struct{} // closed when Run returns

	mu      sync.Mutex
	pending []entry[T] // oldest first; guarded by mu
	// dropped counts lines lost at the end of the queue that no queued
	// entry carries yet (DropNewest while full, or DropOldest emptying the
	// queue); the next line added carries them. Guarded by mu.
	dropped int
	failed  error // set by a Stop outcome: no more sends; guarded by mu
}

// entry is a queued line and the count of lines dropped just before it,
// which becomes a marker line when the entry is sent. Keeping the count
// beside the line (rather than queueing the marker) lets later drops add to
// one gap's count, and a retried batch rebuild its marker.
type entry[T any] struct {
	line    T
	dropped int
}

type flushRequest struct {
	ctx   context.Context
	reply chan error
}

// New returns a Batcher; start it with go b.Run(ctx) and end it with Stop.
func New[T any](opts Options[T]) *Batcher[T] {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.MaxPending < opts.MaxBatch {
		opts.MaxPending = max(100*opts.MaxBatch, 10_000)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Classify == nil {
		opts.Classify = func(error) Outcome { return Retry }
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Batcher[T]{
		opts:   opts,
		kick:   make(chan struct{}, 1),
		flushc: make(chan flushRequest),
		done:   make(chan struct{}),
	}
	b.stopped, b.stop = context.WithCancel(context.Background())
	return b
}

// Add queues a line. It never blocks on the network.
func (b *Batcher[T]) Add(l T) {
	if b.opts.Stamp != nil {
		l = b.opts.Stamp(l)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failed != nil {
		return
	}
	if len(b.pending) >= b.opts.MaxPending && b.opts.Overflow == DropNewest {
		b.dropped++
		return
	}
	b.pending = append(b.pending, entry[T]{line: l, dropped: b.dropped})
	b.dropped = 0
	b.trimLocked()
	if len(b.pending) >= b.opts.MaxBatch {
		b.kickLocked()
	}
}

// trimLocked drops the oldest entries beyond MaxPending (DropOldest only),
// carrying their count to the next entry. b.mu must be held.
func (b *Batcher[T]) trimLocked() {
	if b.opts.Overflow != DropOldest {
		return
	}
	for len(b.pending) > b.opts.MaxPending {
		gap := b.pending[0].dropped + 1
		var zero entry[T]
		b.pending[0] = zero // release the line for the collector
		b.pending = b.pending[1:]
		b.pending[0].dropped += gap // MaxPending ≥ 1, so an entry remains
	}
}

// Pending returns how many lines are queued (excluding a batch in flight).
func (b *Batcher[T]) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// kickLocked wakes Run without blocking; b.mu must be held (it only
// orders the check of pending with the wake-up).
func (b *Batcher[T]) kickLocked() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Run sends batches until Stop is called or ctx ends. ctx bounds every
// Send made on a timer, so it must outlive the writer's own work when its
// last lines still matter.
func (b *Batcher[T]) Run(ctx context.Context) {
	defer close(b.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.stopped, cancel)()
	bo := backoff.New(b.opts.BackoffMin, b.opts.BackoffMax)
	flush := time.NewTicker(b.opts.Interval)
	defer flush.Stop()
	// heartbeat fires Heartbeat after the last successful send, or at the
	// next retry after a failed one. Without a heartbeat it stays nil.
	var heartbeatC <-chan time.Time
	resetHeartbeat := func(time.Duration) {}
	if b.opts.Heartbeat > 0 {
		heartbeat := time.NewTimer(b.opts.Heartbeat)
		defer heartbeat.Stop()
		heartbeatC = heartbeat.C
		resetHeartbeat = func(d time.Duration) { heartbeat.Reset(d) }
	}
	var retryAt time.Time // no attempt before this, after a failure

	// attempt sends one batch and arms the timers from its outcome.
	attempt := func(force bool) {
		switch err := b.sendOne(ctx, force); {
		case err == nil:
			bo.Reset()
			retryAt = time.Time{}
			resetHeartbeat(b.opts.Heartbeat)
		case errors.Is(err, errNothingToSend):
		default:
			d := bo.Next()
			retryAt = time.Now().Add(d)
			resetHeartbeat(d)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case req := <-b.flushc:
			req.reply <- b.drain(req.ctx, bo)
			retryAt = time.Time{}
			resetHeartbeat(b.opts.Heartbeat)
		case <-b.kick:
			// A kick asks for a full batch; one left over from an earlier
			// size crossing (the channel holds one) must not send a
			// partial batch before the interval.
			if time.Now().After(retryAt) && b.full() {
				attempt(false)
			}
		case <-flush.C:
			if time.Now().After(retryAt) {
				attempt(false)
			}
		case <-heartbeatC:
			attempt(true)
		}
	}
}

var errNothingToSend = errors.New("nothing to send")

// full reports whether a whole batch is waiting.
func (b *Batcher[T]) full() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending) >= b.opts.MaxBatch
}

// takeLocked removes the oldest entries that fit in one batch and returns
// them with the lines to send (their markers expanded). b.mu must be held.
func (b *Batcher[T]) takeLocked() ([]entry[T], []T) {
	var lines []T
	n := 0
	for ; n < len(b.pending); n++ {
		e := b.pending[n]
		size := 1
		if e.dropped > 0 && b.opts.Marker != nil {
			size = 2
		}
		if n > 0 && len(lines)+size > b.opts.MaxBatch {
			break
		}
		if size == 2 {
			lines = append(lines, b.opts.Marker(e.dropped, e.line))
		}
		lines = append(lines, e.line)
	}
	taken := b.pending[:n:n]
	b.pending = b.pending[n:]
	return taken, lines
}

// sendOne sends the oldest batch (or, with force, an empty heartbeat when
// there is nothing queued). A batch that failed for a reason worth retrying
// goes back to the front of the queue.
func (b *Batcher[T]) sendOne(ctx context.Context, force bool) error {
	b.mu.Lock()
	if b.failed != nil {
		err := b.failed
		b.mu.Unlock()
		return err
	}
	if len(b.pending) == 0 && !force {
		b.mu.Unlock()
		return errNothingToSend
	}
	taken, batch := b.takeLocked()
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
	switch b.opts.Classify(err) {
	case Retry:
		b.pending = append(taken, b.pending...)
		b.trimLocked()
		return err
	case Stop:
		b.failed = err
		b.pending = nil
		return err
	default: // Drop: this batch can never be delivered; go on without it.
		b.opts.Logger.Warn("the server rejected a batch of log lines; dropping it",
			slog.Int("lines", len(batch)), slog.Any("error", err))
		return nil
	}
}

// drain sends everything queued, retrying failures with backoff, until the
// queue is empty (nil), a Stop error, or ctx ends.
func (b *Batcher[T]) drain(ctx context.Context, bo *backoff.Backoff) error {
	for {
		err := b.sendOne(ctx, false)
		switch {
		case errors.Is(err, errNothingToSend):
			return nil
		case err == nil:
			bo.Reset()
			continue
		case b.opts.Classify(err) != Retry:
			return err
		}
		if !bo.Wait(ctx) {
			return fmt.Errorf("flush logs: %w (last error: %w)", ctx.Err(), err)
		}
	}
}

// Flush sends every queued line before it returns, retrying failed sends
// until ctx ends, when it returns an error wrapping ctx.Err(). Writers call
// it before reporting that they are done, so that anyone following the log
// sees the last line first.
func (b *Batcher[T]) Flush(ctx context.Context) error {
	req := flushRequest{ctx: ctx, reply: make(chan error, 1)}
	select {
	case b.flushc <- req:
	case <-b.done:
		return fmt.Errorf("flush logs: %w", ErrStopped)
	case <-ctx.Done():
		return fmt.Errorf("flush logs: %w", ctx.Err())
	}
	return <-req.reply
}

// Err is the error of a Send classified Stop, if any.
func (b *Batcher[T]) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failed
}

// Stop ends Run, canceling a Send in flight, and waits for it; lines still
// queued are discarded (Flush first). Run must have been started. Stop is
// idempotent.
func (b *Batcher[T]) Stop() {
	b.stop()
	<-b.done
}
