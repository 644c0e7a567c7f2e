// Package pubsub is coderd's message bus on PostgreSQL LISTEN/NOTIFY: job
// queue wake-ups and live log streams reach every coderd replica without
// another moving part.
//
// One dedicated connection LISTENs for the whole process. To change its
// channel set without interrupting a wait (cancelling a pgx wait races with
// the next statement), Subscribe NOTIFYs a private control channel from the
// pool; the listener wakes, issues LISTEN, and acknowledges, so a Subscribe
// that returned is guaranteed to see every later Publish.
//
// Handlers run on the listener goroutine and must not block: send to a
// buffered channel and drop or coalesce when full. After a lost connection
// every handler is called with ErrDroppedMessages, since notifications sent
// while disconnected are gone; subscribers then re-read state from the
// database. The listener reconnects on the project's one retry schedule
// (package backoff), from 100ms up to 5s. Close joins every goroutine; the
// tests check that none leaks.
package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opencoder/coder/backoff"
)

// Delays between attempts to reconnect the listener: quick at first (a
// PostgreSQL failover or restart is often over in a second), capped low
// because notifications are lost while disconnected.
const (
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
)

// ErrDroppedMessages tells a handler that messages may have been lost.
var ErrDroppedMessages = errors.New("pubsub: messages may have been dropped")

// Handler receives a message, or err = ErrDroppedMessages.
type Handler func(payload []byte, err error)

// Pubsub publishes and subscribes on PostgreSQL channels.
type Pubsub struct {
	// Set at construction.
	pool    *pgxpool.Pool
	log     *slog.Logger
	control string
	cancel  context.CancelFunc
	done    chan struct{}

	mu      sync.Mutex // guards subs, waiters, closed
	subs    map[string]map[*subscription]struct{}
	waiters []chan struct{} // acked when the listener has synced its LISTENs
	closed  bool

	counters counters // for Collect
}

type subscription struct{ fn Handler }

// New starts the listener. Close stops it.
func New(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*Pubsub, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Pubsub{
		pool: pool, log: log, cancel: cancel, done: make(chan struct{}),
		control: "pubsub_ctl_" + uuid.NewString()[:8],
		subs:    map[string]map[*subscription]struct{}{},
	}
	ready := make(chan error, 1)
	go p.run(ctx, ready)
	if err := <-ready; err != nil {
		cancel()
		<-p.done
		return nil, err
	}
	return p, nil
}

// Close stops the listener and waits for it. Idempotent.
func (p *Pubsub) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	<-p.done
	return nil
}

// Publish sends payload (at most ~8000 bytes) on channel.
func (p *Pubsub) Publish(ctx context.Context, channel string, payload []byte) error {
	_, err := p.pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, string(payload))
	switch {
	case channel == p.control:
	case err != nil:
		p.counters.publishFailed.Add(1)
	default:
		p.counters.publishOK.Add(1)
	}
	if err != nil {
		return fmt.Errorf("publish on %s: %w", channel, err)
	}
	return nil
}

// Subscribe calls fn for each message on channel until the returned cancel
// is called. It returns once the subscription is live.
func (p *Pubsub) Subscribe(ctx context.Context, channel string, fn Handler) (cancel func(), err error) {
	sub := &subscription{fn: fn}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errors.New("pubsub closed")
	}
	set, listening := p.subs[channel]
	if !listening {
		set = map[*subscription]struct{}{}
		p.subs[channel] = set
	}
	set[sub] = struct{}{}
	// Wait for the listener's acknowledgement even when the channel already
	// has subscribers: the first one's LISTEN may not be live yet, and
	// returning early would lose a Publish made right after.
	ack := make(chan struct{})
	p.waiters = append(p.waiters, ack)
	p.mu.Unlock()
	cancel = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if set := p.subs[channel]; set != nil {
			delete(set, sub)
			if len(set) == 0 {
				delete(p.subs, channel)
			}
		}
	}
	if err := p.Publish(ctx, p.control, nil); err != nil {
		cancel()
		return nil, err
	}
	select {
	case <-ack:
		return cancel, nil
	case <-ctx.Done():
		cancel()
		return nil, fmt.Errorf("subscribe to %s: %w", channel, ctx.Err())
	case <-p.done:
		cancel()
		return nil, errors.New("pubsub closed")
	}
}

// run owns the listening connection, reconnecting with backoff.
func (p *Pubsub) run(ctx context.Context, ready chan<- error) {
	defer close(p.done)
	first := true
	retry := backoff.New(reconnectMin, reconnectMax)
	for ctx.Err() == nil {
		err := p.listen(ctx, func() {
			if first {
				first = false
				ready <- nil
				return
			}
			retry.Reset()
			p.dispatchAll(ErrDroppedMessages)
		})
		if first {
			ready <- err
			return
		}
		if ctx.Err() != nil {
			return
		}
		p.log.Warn("pubsub connection lost; reconnecting", "error", err)
		if !retry.Wait(ctx) {
			return
		}
	}
}

// listen runs one connection until it fails or ctx ends.
func (p *Pubsub) listen(ctx context.Context, connected func()) error {
	conn, err := pgx.ConnectConfig(ctx, p.pool.Config().ConnConfig.Copy())
	if err != nil {
		return fmt.Errorf("connect listener: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	listening := map[string]bool{}
	resync := func() error {
		p.mu.Lock()
		want := map[string]bool{p.control: true}
		for ch := range p.subs {
			want[ch] = true
		}
		waiters := p.waiters
		p.waiters = nil
		p.mu.Unlock()
		for ch := range want {
			if !listening[ch] {
				if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
					return fmt.Errorf("listen %s: %w", ch, err)
				}
				listening[ch] = true
			}
		}
		for ch := range listening {
			if !want[ch] {
				if _, err := conn.Exec(ctx, "UNLISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
					return fmt.Errorf("unlisten %s: %w", ch, err)
				}
				delete(listening, ch)
			}
		}
		for _, w := range waiters {
			close(w)
		}
		return nil
	}
	if err := resync(); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		if n.Channel == p.control {
			if err := resync(); err != nil {
				return err
			}
			continue
		}
		p.counters.received.Add(1)
		p.dispatch(n.Channel, []byte(n.Payload), nil)
	}
}

func (p *Pubsub) handlers(channel string) []Handler {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Handler
	for s := range p.subs[channel] {
		out = append(out, s.fn)
	}
	return out
}

func (p *Pubsub) dispatch(channel string, payload []byte, err error) {
	for _, fn := range p.handlers(channel) {
		fn(payload, err)
	}
}

func (p *Pubsub) dispatchAll(err error) {
	p.mu.Lock()
	var chans []string
	for ch := range p.subs {
		chans = append(chans, ch)
	}
	p.mu.Unlock()
	for _, ch := range chans {
		p.dispatch(ch, nil, err)
	}
}
