package provisionerdserver

import (
	"context"
	"sync"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
)

// acquirer wakes long-polling daemons when a job is queued in their
// organization. One pubsub subscription serves every waiter; a woken
// waiter retries the SKIP LOCKED acquire, so a wake-up never hands the same
// job to two daemons.
type acquirer struct {
	mu      sync.Mutex // guards waiters
	waiters map[uuid.UUID]map[chan struct{}]struct{}
	cancel  func()
}

func newAcquirer(ctx context.Context, ps *pubsub.Pubsub) (*acquirer, error) {
	a := &acquirer{waiters: map[uuid.UUID]map[chan struct{}]struct{}{}}
	cancel, err := ps.Subscribe(ctx, database.ChannelJobPosted, func(payload []byte, err error) {
		if err != nil {
			// Notifications may have been lost: wake everyone to re-check.
			a.wakeAll()
			return
		}
		org, perr := uuid.ParseBytes(payload)
		if perr != nil {
			a.wakeAll()
			return
		}
		a.wake(org)
	})
	if err != nil {
		return nil, err
	}
	a.cancel = cancel
	return a, nil
}

// wait registers for a wake-up in org; call done when finished waiting.
func (a *acquirer) wait(org uuid.UUID) (ch <-chan struct{}, done func()) {
	c := make(chan struct{}, 1)
	a.mu.Lock()
	set := a.waiters[org]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		a.waiters[org] = set
	}
	set[c] = struct{}{}
	a.mu.Unlock()
	return c, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		delete(a.waiters[org], c)
		if len(a.waiters[org]) == 0 {
			delete(a.waiters, org)
		}
	}
}

func (a *acquirer) wake(org uuid.UUID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for c := range a.waiters[org] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (a *acquirer) wakeAll() {
	a.mu.Lock()
	var orgs []uuid.UUID
	for org := range a.waiters {
		orgs = append(orgs, org)
	}
	a.mu.Unlock()
	for _, org := range orgs {
		a.wake(org)
	}
}

func (a *acquirer) close() {
	if a.cancel != nil {
		a.cancel()
	}
}
