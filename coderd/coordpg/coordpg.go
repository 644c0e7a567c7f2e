// Package coordpg shares coderd's tailnet coordinator between replicas on
// one PostgreSQL database, so an agent coordinating through one replica and
// a client coordinating through another find each other.
//
// Each replica keeps its tailnet.Coordinator as the in-memory core and the
// authority for its own peers: peers on the same replica still exchange
// nodes at once, in process. This package attaches to the core
// (tailnet.Shared) and mirrors every local change into the tables of
// migration 00012 (tailnet_coordinators, tailnet_peers, tailnet_tunnels),
// announcing it with NOTIFY on one channel through coderd/pubsub; the
// payload carries ids only. A replica that has a local peer interested in
// a remote one (a client tunnelling to a remote agent, an agent with a
// remote client's tunnel) reads that peer's rows and delivers its node, or
// "lost"/"disconnected", into the core.
//
// Everything received is level-triggered: a notification only says "look
// again"; the receiver reads the current rows and compares them with what
// it last delivered to each local peer, so reordered, repeated or coalesced
// notifications cannot deliver a stale node, and a peer is told "lost" once
// however many notifications lead there.
//
// Liveness: each coordinator refreshes its heartbeat every interval; one
// silent for three intervals is dead, and the first replica to notice
// deletes it in one transaction that marks its peers lost and notifies
// once. A replica that cannot reach the database for two intervals
// suspends its core (every local peer is disconnected, so it reconnects,
// likely through another replica; new ones are refused) rather than serve
// stale peers; once the database answers again it gives up its old rows
// and starts over under a new coordinator id.
package coordpg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/tailnet"
)

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 2 * time.Second
	// DefaultLostRetention keeps a lost peer's row, so late readers still
	// say "lost"; as long as tailnet.Conn keeps a lost peer.
	DefaultLostRetention = 15 * time.Minute
)

// Options configure New. Core, Store and Pubsub are required.
type Options struct {
	// Core is this process's coordinator; coderd serves agents and clients
	// through it as before.
	Core   *tailnet.Coordinator
	Store  *database.Store
	Pubsub *pubsub.Pubsub
	Logger *slog.Logger
	// HeartbeatInterval: a coordinator silent for three intervals is
	// dead. Default DefaultHeartbeatInterval.
	HeartbeatInterval time.Duration
	// LostRetention: how long a lost peer's row is kept. Default
	// DefaultLostRetention.
	LostRetention time.Duration
}

// Coordinator is the shared layer of one process's coordinator.
//
// Lock order: the core's lock, then mu (the core calls PeerChanged and
// TunnelChanged with its lock held). Nothing here calls into the core
// while holding mu.
type Coordinator struct {
	opts   Options
	core   *tailnet.Coordinator
	db     *database.Store
	log    *slog.Logger
	cancel context.CancelFunc
	wg     sync.WaitGroup
	unsub  func()

	writeWake chan struct{} // capacity 1
	recvWake  chan struct{} // capacity 1

	closeOnce sync.Once

	m metrics

	mu sync.Mutex
	// id is this coordinator's current row; a new one after recovery.
	id      uuid.UUID
	healthy bool
	// local: the peers connected here (true: an agent), for metrics.
	local map[uuid.UUID]bool
	w     writeQueue
	r     recvState
}

// New registers a coordinator row, subscribes to notifications and
// attaches to opts.Core. Close it before closing the core.
func New(ctx context.Context, opts Options) (*Coordinator, error) {
	if opts.Core == nil || opts.Store == nil || opts.Pubsub == nil {
		return nil, errors.New("coordpg: Core, Store and Pubsub are required")
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.LostRetention <= 0 {
		opts.LostRetention = DefaultLostRetention
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{
		opts: opts, core: opts.Core, db: opts.Store, log: opts.Logger,
		writeWake: make(chan struct{}, 1), recvWake: make(chan struct{}, 1),
		id: uuid.New(), healthy: true, local: make(map[uuid.UUID]bool), m: newMetrics(),
	}
	c.w.reset()
	c.r.reset()
	if err := c.db.RegisterTailnetCoordinator(ctx, c.id); err != nil {
		return nil, fmt.Errorf("coordpg: %w", err)
	}
	unsub, err := opts.Pubsub.Subscribe(ctx, database.TailnetChannel, c.onNotify)
	if err != nil {
		_ = c.db.DeleteTailnetCoordinator(context.WithoutCancel(ctx), c.id, deadPayload)
		return nil, fmt.Errorf("coordpg: %w", err)
	}
	c.unsub = unsub
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	c.core.SetShared(c)
	c.wg.Add(3)
	go func() { defer c.wg.Done(); c.heartbeatLoop(runCtx) }()
	go func() { defer c.wg.Done(); c.writeLoop(runCtx) }()
	go func() { defer c.wg.Done(); c.recvLoop(runCtx) }()
	c.log.Info("shared tailnet coordinator started", "coordinator_id", c.id)
	return c, nil
}

// Core returns the in-memory coordinator this layer shares.
func (c *Coordinator) Core() *tailnet.Coordinator { return c.core }

// ID returns the coordinator's current row id.
func (c *Coordinator) ID() uuid.UUID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// Healthy reports whether the coordinator is serving (false while it
// cannot reach the database).
func (c *Coordinator) Healthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.healthy
}

// Close suspends the core (its peers are disconnected and reconnect
// through another replica), stops the loops and deletes this coordinator's
// rows, so the other replicas tell their peers "lost" once, at once,
// rather than after the heartbeat timeout. Idempotent.
func (c *Coordinator) Close() error {
	return c.stop(true)
}

// stop is Close; cleanup false simulates a crash (tests): nothing is
// written, the rows stay for the others to find dead.
func (c *Coordinator) stop(cleanup bool) error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		c.unsub()
		c.wg.Wait()
		// With the loops stopped, the departures this causes are not
		// written one by one: the coordinator's removal covers them.
		c.core.Suspend()
		if !cleanup {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if e := c.db.DeleteTailnetCoordinator(ctx, c.ID(), deadPayload); e != nil {
			err = fmt.Errorf("coordpg: close: %w", e)
		}
	})
	return err
}

// AgentConnected implements tailnet.Shared: is agent connected through
// another coordinator?
func (c *Coordinator) AgentConnected(agent uuid.UUID) bool {
	c.mu.Lock()
	id, healthy := c.id, c.healthy
	c.mu.Unlock()
	if !healthy {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.HeartbeatInterval)
	defer cancel()
	ok, err := c.db.TailnetAgentConnected(ctx, agent, id)
	if err != nil {
		c.log.Warn("look up remote agent", "agent", agent, "error", err)
		return false
	}
	return ok
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
