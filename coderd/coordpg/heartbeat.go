package coordpg

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// The liveness half: heartbeats, cleaning up dead coordinators, and
// suspending this one when the database is out of reach.

// suspendAfter is how many intervals without a successful heartbeat this
// coordinator tolerates before suspending: fewer than the three after which
// the others declare it dead, so it stops serving before they stop
// believing in it.
const suspendAfter = 2

// deadAfter is how many silent intervals make a coordinator dead.
const deadAfter = 3

func (c *Coordinator) heartbeatLoop(ctx context.Context) {
	interval := c.opts.HeartbeatInterval
	// Ticks twice per interval, so the suspension lands well within the
	// margin between suspendAfter and deadAfter.
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	lastOK := time.Now()
	var lastGC time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A slow database is not a lost one: a heartbeat may take up to
		// 1.5 intervals, so the check below still runs by 2 intervals
		// after the last success (ticks come every half interval).
		hbCtx, cancel := context.WithTimeout(ctx, interval*3/2)
		id := c.ID()
		alive, err := c.db.HeartbeatTailnetCoordinator(hbCtx, id)
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			if c.Healthy() && time.Since(lastOK) > suspendAfter*interval {
				c.log.Error("shared coordinator cannot reach the database; disconnecting its peers", "error", err)
				c.suspend()
			}
			continue
		case !alive:
			// The others declared us dead and cleaned up our rows (we
			// were out of reach): our peers' partners were told they
			// are lost, so they must reconnect.
			if c.Healthy() {
				c.log.Error("shared coordinator was removed by another replica; disconnecting its peers")
				c.suspend()
			}
		}
		if !c.Healthy() && !c.recover(ctx) {
			continue
		}
		lastOK = time.Now()
		c.cleanup(ctx, &lastGC)
	}
}

// suspend stops serving: the core drops every peer and refuses new ones.
func (c *Coordinator) suspend() {
	c.mu.Lock()
	c.healthy = false
	c.mu.Unlock()
	c.core.Suspend()
}

// recover gives up the old rows (the others tell their peers "lost", once)
// and starts over under a new id with empty state. It reports success.
func (c *Coordinator) recover(ctx context.Context) bool {
	interval := c.opts.HeartbeatInterval
	ctx, cancel := context.WithTimeout(ctx, 2*interval)
	defer cancel()
	old, fresh := c.ID(), uuid.New()
	if err := c.db.DeleteTailnetCoordinator(ctx, old, deadPayload); err != nil {
		c.log.Warn("shared coordinator: remove old rows", "error", err)
		return false
	}
	if err := c.db.RegisterTailnetCoordinator(ctx, fresh); err != nil {
		c.log.Warn("shared coordinator: register", "error", err)
		return false
	}
	c.mu.Lock()
	c.id = fresh
	c.healthy = true
	c.local = make(map[uuid.UUID]bool)
	c.w.reset()
	c.r.reset()
	c.mu.Unlock()
	c.core.Resume()
	c.log.Info("shared coordinator serving again", "coordinator_id", fresh, "previous_id", old)
	return true
}

// cleanup removes dead coordinators (whoever gets there first; the delete
// returns each to one replica only) and, now and then, old lost peers.
func (c *Coordinator) cleanup(parent context.Context, lastGC *time.Time) {
	interval := c.opts.HeartbeatInterval
	ctx, cancel := context.WithTimeout(parent, interval)
	defer cancel()
	dead, err := c.db.DeleteDeadTailnetCoordinators(ctx, deadAfter*interval, deadPayload)
	if parent.Err() != nil {
		return // closing
	}
	if err != nil {
		c.log.Warn("shared coordinator: clean up dead coordinators", "error", err)
	}
	c.m.deadRemoved.Add(uint64(len(dead)))
	for _, id := range dead {
		c.log.Info("shared coordinator: removed a dead coordinator; its peers are lost", "dead_coordinator_id", id)
	}
	if time.Since(*lastGC) > time.Minute {
		*lastGC = time.Now()
		if _, err := c.db.DeleteLostTailnetPeers(ctx, c.opts.LostRetention); err != nil {
			c.log.Warn("shared coordinator: delete old lost peers", "error", err)
		}
	}
}
