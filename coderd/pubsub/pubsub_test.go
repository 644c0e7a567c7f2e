package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/pubsub"
)

// TestMain runs the tests against one PostgreSQL, then fails the run if
// any goroutine outlived them: every listener, handler and waiter must be
// joined by Close.
func TestMain(m *testing.M) { os.Exit(dbtestutil.MainCheckLeaks(m)) }

const waitLong = 30 * time.Second

func setup(t *testing.T) (context.Context, *pgxpool.Pool, *pubsub.Pubsub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	pool, err := pgxpool.New(ctx, dbtestutil.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ps, err := pubsub.New(ctx, pool, nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, ps.Close()) })
	return ctx, pool, ps
}

// inbox collects what a handler receives.
type inbox struct {
	mu   sync.Mutex // guards msgs, errs
	msgs []string
	errs []error
	ch   chan struct{} // signalled (non-blocking) on each delivery
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1)} }

func (b *inbox) handler(payload []byte, err error) {
	b.mu.Lock()
	if err != nil {
		b.errs = append(b.errs, err)
	} else {
		b.msgs = append(b.msgs, string(payload))
	}
	b.mu.Unlock()
	select {
	case b.ch <- struct{}{}:
	default:
	}
}

func (b *inbox) snapshot() ([]string, []error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs), slices.Clone(b.errs)
}

// waitFor blocks until cond holds on the inbox or the context ends.
func (b *inbox) waitFor(ctx context.Context, t *testing.T, what string, cond func(msgs []string, errs []error) bool) {
	t.Helper()
	for {
		if cond(b.snapshot()) {
			return
		}
		select {
		case <-b.ch:
		case <-ctx.Done():
			msgs, errs := b.snapshot()
			t.Fatalf("waiting for %s: %v (got msgs=%q errs=%v)", what, ctx.Err(), msgs, errs)
		}
	}
}

func (b *inbox) waitMsgs(ctx context.Context, t *testing.T, want ...string) {
	t.Helper()
	b.waitFor(ctx, t, fmt.Sprintf("messages %q", want), func(msgs []string, _ []error) bool {
		for _, w := range want {
			if !slices.Contains(msgs, w) {
				return false
			}
		}
		return true
	})
}

func TestPublishSubscribe(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	a, b := newInbox(), newInbox()
	cancelA, err := ps.Subscribe(ctx, "jobs", a.handler)
	require.NoError(t, err)
	defer cancelA()
	cancelB, err := ps.Subscribe(ctx, "jobs", b.handler)
	require.NoError(t, err)
	defer cancelB()

	for i := range 5 {
		require.NoError(t, ps.Publish(ctx, "jobs", fmt.Appendf(nil, "m%d", i)))
	}
	want := []string{"m0", "m1", "m2", "m3", "m4"}
	a.waitMsgs(ctx, t, want...)
	b.waitMsgs(ctx, t, want...)
	msgs, errs := a.snapshot()
	require.Equal(t, want, msgs, "sequential publishes arrive in order, once")
	require.Empty(t, errs)
}

func TestPayloads(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	box := newInbox()
	cancel, err := ps.Subscribe(ctx, "payloads", box.handler)
	require.NoError(t, err)
	defer cancel()
	payloads := []string{"", "plain", `{"json":true}`, "quote ' and \" and \\", "ünïcødé 😀", "line\u2028separator"}
	for _, p := range payloads {
		require.NoError(t, ps.Publish(ctx, "payloads", []byte(p)))
	}
	box.waitFor(ctx, t, "every payload", func(msgs []string, _ []error) bool { return len(msgs) == len(payloads) })
	msgs, _ := box.snapshot()
	require.Equal(t, payloads, msgs)
}

// A Subscribe that returned sees every later Publish: no sleep between
// them, across many fresh channels.
func TestSubscribeThenPublishNeverLost(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	const channels = 40
	boxes := make([]*inbox, channels)
	for i := range channels {
		boxes[i] = newInbox()
		cancel, err := ps.Subscribe(ctx, fmt.Sprintf("fresh_%d", i), boxes[i].handler)
		require.NoError(t, err)
		defer cancel()
		require.NoError(t, ps.Publish(ctx, fmt.Sprintf("fresh_%d", i), []byte("hello")))
	}
	for i, b := range boxes {
		b.waitMsgs(ctx, t, "hello")
		msgs, _ := b.snapshot()
		require.Equal(t, []string{"hello"}, msgs, "channel %d", i)
	}
}

// The same guarantee when several subscribers join one new channel at the
// same moment: each one's Subscribe may return only once LISTEN is live.
func TestConcurrentSubscribersOnANewChannel(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	const rounds, subscribers = 20, 4
	for r := range rounds {
		channel := fmt.Sprintf("race_%d", r)
		boxes := make([]*inbox, subscribers)
		var wg sync.WaitGroup
		errs := make([]error, subscribers)
		for i := range subscribers {
			boxes[i] = newInbox()
			wg.Add(1)
			go func() {
				defer wg.Done()
				cancel, err := ps.Subscribe(ctx, channel, boxes[i].handler)
				if err != nil {
					errs[i] = err
					return
				}
				t.Cleanup(cancel)
				errs[i] = ps.Publish(ctx, channel, fmt.Appendf(nil, "from-%d", i))
			}()
		}
		wg.Wait()
		require.NoError(t, errors.Join(errs...))
		// Each subscriber published only after its own Subscribe returned,
		// so at least its own message must reach it.
		for i, b := range boxes {
			b.waitMsgs(ctx, t, fmt.Sprintf("from-%d", i))
		}
	}
}

func TestUnsubscribe(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	gone, stay := newInbox(), newInbox()
	cancelGone, err := ps.Subscribe(ctx, "shared", gone.handler)
	require.NoError(t, err)
	cancelStay, err := ps.Subscribe(ctx, "shared", stay.handler)
	require.NoError(t, err)
	defer cancelStay()
	sentinel := newInbox()
	cancelSentinel, err := ps.Subscribe(ctx, "sentinel", sentinel.handler)
	require.NoError(t, err)
	defer cancelSentinel()

	require.NoError(t, ps.Publish(ctx, "shared", []byte("before")))
	gone.waitMsgs(ctx, t, "before")
	cancelGone()
	cancelGone() // idempotent

	require.NoError(t, ps.Publish(ctx, "shared", []byte("after")))
	// Notifications arrive in commit order: once the sentinel, published
	// later, is in, "after" has been dispatched too.
	require.NoError(t, ps.Publish(ctx, "sentinel", []byte("done")))
	sentinel.waitMsgs(ctx, t, "done")
	stay.waitMsgs(ctx, t, "before", "after")
	msgs, _ := gone.snapshot()
	require.Equal(t, []string{"before"}, msgs, "a cancelled handler is not called again")

	// The last subscriber leaving and a new one arriving still works.
	cancelStay()
	again := newInbox()
	cancelAgain, err := ps.Subscribe(ctx, "shared", again.handler)
	require.NoError(t, err)
	defer cancelAgain()
	require.NoError(t, ps.Publish(ctx, "shared", []byte("again")))
	again.waitMsgs(ctx, t, "again")
}

func TestManyChannels(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	const channels, perChannel = 50, 5
	boxes := make([]*inbox, channels)
	for i := range channels {
		boxes[i] = newInbox()
		cancel, err := ps.Subscribe(ctx, fmt.Sprintf("many.%d", i), boxes[i].handler)
		require.NoError(t, err)
		defer cancel()
	}
	var wg sync.WaitGroup
	errs := make([]error, channels)
	for i := range channels {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perChannel {
				if err := ps.Publish(ctx, fmt.Sprintf("many.%d", i), fmt.Appendf(nil, "%d/%d", i, j)); err != nil {
					errs[i] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	for i, b := range boxes {
		b.waitFor(ctx, t, fmt.Sprintf("channel %d", i), func(msgs []string, _ []error) bool { return len(msgs) == perChannel })
		msgs, _ := b.snapshot()
		want := make([]string, perChannel)
		for j := range want {
			want[j] = fmt.Sprintf("%d/%d", i, j)
		}
		require.Equal(t, want, msgs, "channel %d gets only its own messages, in order", i)
	}
}

func TestSubscribeAfterClose(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	require.NoError(t, ps.Close())
	_, err := ps.Subscribe(ctx, "x", newInbox().handler)
	require.Error(t, err)
}

func TestSubscribeContextCanceled(t *testing.T) {
	t.Parallel()
	_, _, ps := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ps.Subscribe(ctx, "never", newInbox().handler)
	require.ErrorIs(t, err, context.Canceled)
}

// Killing the listener's backend loses whatever was sent meanwhile: every
// handler hears ErrDroppedMessages, and later messages arrive again.
func TestReconnectAfterBackendTerminated(t *testing.T) {
	t.Parallel()
	ctx, pool, ps := setup(t)
	a, b := newInbox(), newInbox()
	cancelA, err := ps.Subscribe(ctx, "chan_a", a.handler)
	require.NoError(t, err)
	defer cancelA()
	cancelB, err := ps.Subscribe(ctx, "chan_b", b.handler)
	require.NoError(t, err)
	defer cancelB()
	require.NoError(t, ps.Publish(ctx, "chan_a", []byte("before")))
	a.waitMsgs(ctx, t, "before")

	for round := range 2 {
		var killed int
		err = pool.QueryRow(ctx, `
			SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`).Scan(&killed)
		require.NoError(t, err)
		require.Equal(t, 1, killed, "round %d: exactly one listener connection", round)

		for _, box := range []*inbox{a, b} {
			box.waitFor(ctx, t, "ErrDroppedMessages", func(_ []string, errs []error) bool {
				return len(errs) == round+1 && errors.Is(errs[round], pubsub.ErrDroppedMessages)
			})
		}
		// ErrDroppedMessages comes after the LISTENs are back, so a publish
		// from here on must arrive.
		msg := fmt.Sprintf("after-%d", round)
		require.NoError(t, ps.Publish(ctx, "chan_a", []byte(msg)))
		require.NoError(t, ps.Publish(ctx, "chan_b", []byte(msg)))
		a.waitMsgs(ctx, t, msg)
		b.waitMsgs(ctx, t, msg)
	}

	// New subscriptions work on the new connection too.
	c := newInbox()
	cancelC, err := ps.Subscribe(ctx, "chan_c", c.handler)
	require.NoError(t, err)
	defer cancelC()
	require.NoError(t, ps.Publish(ctx, "chan_c", []byte("new")))
	c.waitMsgs(ctx, t, "new")
}

func TestCloseIsIdempotentAndJoins(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	pool, err := pgxpool.New(ctx, dbtestutil.NewDB(t))
	require.NoError(t, err)
	defer pool.Close()
	ps, err := pubsub.New(ctx, pool, nil)
	require.NoError(t, err)
	require.NoError(t, ps.Close())
	require.NoError(t, ps.Close())
	// The listener connection was closed; the server notices shortly after.
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN%'`).Scan(&n)
		return err == nil && n == 0
	}, waitLong/2, 20*time.Millisecond)
}
