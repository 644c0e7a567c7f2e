package servertailnet

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// tunneler is the side of coordination the cache drives
// (tailnet.Tunnels); tests give a fake.
type tunneler interface {
	AddTunnel(agent uuid.UUID)
	RemoveTunnel(agent uuid.UUID)
}

// agentCache keeps one tunnel per agent in use: the first user of an agent
// adds the tunnel, and idle after the last user has let go (no references
// for the idle duration) removes it, so the agent is dropped as a peer.
// Recently used agents stay warm, so a browser reconnecting its terminal
// does not pay for a new path.
//
// Concurrency: everything below mu is guarded by it. Expiry runs on timers
// (time.AfterFunc); wg counts the expiry callbacks that may still run, and
// Close joins them.
type agentCache struct {
	tun  tunneler
	idle time.Duration

	wg sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	entries map[uuid.UUID]*cacheEntry
}

type cacheEntry struct {
	refs int
	// timer, when not nil, expires the entry; gen tells a stale firing
	// (its entry was used and released again since) from the current one.
	timer *time.Timer
	gen   uint64
}

func newAgentCache(tun tunneler, idle time.Duration) *agentCache {
	return &agentCache{tun: tun, idle: idle, entries: make(map[uuid.UUID]*cacheEntry)}
}

// acquire takes a reference to agent's tunnel, adding the tunnel if it is
// not there. Call release (idempotent) when done.
func (c *agentCache) acquire(agent uuid.UUID) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	e, ok := c.entries[agent]
	if !ok {
		e = &cacheEntry{}
		c.entries[agent] = e
		c.tun.AddTunnel(agent)
	}
	c.stopTimerLocked(e)
	e.refs++
	var once sync.Once
	return func() { once.Do(func() { c.release(agent, e) }) }, nil
}

func (c *agentCache) release(agent uuid.UUID, e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.refs--
	if e.refs > 0 || c.closed || c.entries[agent] != e {
		return
	}
	e.gen++
	gen := e.gen
	c.wg.Add(1)
	e.timer = time.AfterFunc(c.idle, func() {
		defer c.wg.Done()
		c.expire(agent, e, gen)
	})
}

func (c *agentCache) expire(agent uuid.UUID, e *cacheEntry, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.entries[agent] != e || e.refs > 0 || e.gen != gen {
		return
	}
	e.timer = nil
	delete(c.entries, agent)
	c.tun.RemoveTunnel(agent)
}

// stopTimerLocked cancels e's pending expiry. A callback that already
// started finds the generation moved on and does nothing.
func (c *agentCache) stopTimerLocked(e *cacheEntry) {
	if e.timer == nil {
		return
	}
	if e.timer.Stop() {
		c.wg.Done() // it will never run
	}
	e.timer = nil
	e.gen++
}

// len is the number of agents with a tunnel, in use or idle.
func (c *agentCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// close stops every expiry and joins the callbacks already running. The
// tunnels themselves end with the coordination (tailnet.Tunnels.Close).
// Idempotent.
func (c *agentCache) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, e := range c.entries {
			c.stopTimerLocked(e)
		}
	}
	c.mu.Unlock()
	c.wg.Wait()
}
