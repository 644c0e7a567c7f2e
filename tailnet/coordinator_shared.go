package tailnet

import (
	"errors"

	"github.com/google/uuid"

	"github.com/opencoder/coder/tailnet/proto"
)

// This file is the Coordinator's opening for a shared coordinator (several
// coderd replicas on one database, package coderd/coordpg): the in-memory
// core stays each process's authority for its own peers and keeps
// exchanging their nodes at once; a Shared layer learns of every local
// change through hooks and feeds in what other processes' peers publish
// through Deliver. Without SetShared nothing here runs.

// ErrCoordinatorUnavailable is returned while the coordinator is suspended
// (its shared layer lost the database): the node should retry, possibly
// through another replica.
var ErrCoordinatorUnavailable = errors.New("coordinator unavailable")

// Shared is a coordinator layer spanning processes.
//
// PeerChanged and TunnelChanged are called with the core's lock held, in
// the order the changes happened, except that a departing peer is reported
// before the removal of the tunnels its departure ends: they must not block
// and must not call back into the Coordinator (queue the work instead).
type Shared interface {
	// PeerChanged reports that the local peer id connected or published a
	// node (left false), or left (lost: without a goodbye).
	PeerChanged(id uuid.UUID, agent, left, lost bool)
	// TunnelChanged reports that the local client's tunnel to agent was
	// added (exists) or removed.
	TunnelChanged(client, agent uuid.UUID, exists bool)
	// AgentConnected reports whether agent is connected through another
	// process. Called without the lock; it may do I/O, briefly.
	AgentConnected(agent uuid.UUID) bool
}

// SetShared attaches the shared layer. Call it before serving.
func (c *Coordinator) SetShared(s Shared) {
	c.mu.Lock()
	c.shared = s
	c.mu.Unlock()
}

// Suspend drops every peer (they see their connection close and reconnect,
// perhaps elsewhere) and refuses new ones with ErrCoordinatorUnavailable
// until Resume: a replica that cannot reach the shared state must not serve
// stale peers.
func (c *Coordinator) Suspend() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.suspended = true
	for _, p := range c.peers {
		c.dropLocked(p)
	}
}

// Resume accepts peers again after Suspend.
func (c *Coordinator) Resume() {
	c.mu.Lock()
	c.suspended = false
	c.mu.Unlock()
}

// Suspended reports whether the coordinator refuses peers (Suspend).
func (c *Coordinator) Suspended() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suspended
}

// LocalPeer returns the state of the connected local peer id: whether it is
// an agent and its last node (nil before the first). ok is false when no
// such peer is connected here.
func (c *Coordinator) LocalPeer(id uuid.UUID) (node *proto.Node, agent, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.peers[id]
	if !ok || p.dropped {
		return nil, false, false
	}
	return p.node, p.agent, true
}

// LocalTunnel reports whether the local client has a tunnel to agent.
func (c *Coordinator) LocalTunnel(client, agent uuid.UUID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.peers[client]
	if !ok || p.dropped {
		return false
	}
	_, ok = c.tunnels[client][agent]
	return ok
}

// Deliver queues u, an update about a peer of another process, for the
// local peer to. It does nothing (false) when to is not connected here,
// when to is a client without a tunnel to u.ID (removed meanwhile: the
// core has told it "disconnected", and a late node must not revive the
// peer), or when u.ID is itself connected here: the local core is the
// authority for its own peers.
func (c *Coordinator) Deliver(to uuid.UUID, u proto.PeerUpdate) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, local := c.peers[u.ID]; local {
		return false
	}
	p, ok := c.peers[to]
	if !ok || p.dropped {
		return false
	}
	if _, tunnel := c.tunnels[to][u.ID]; !p.agent && !tunnel {
		return false
	}
	if u.Node != nil && c.blockEndpoints && len(u.Node.Endpoints) > 0 {
		cp := *u.Node
		cp.Endpoints = nil
		u.Node = &cp
	}
	c.sendLocked(to, u)
	return true
}

func (c *Coordinator) peerChangedLocked(p *coordPeer, left, lost bool) {
	if c.shared != nil {
		c.shared.PeerChanged(p.id, p.agent, left, lost)
	}
}

func (c *Coordinator) tunnelChangedLocked(client, agent uuid.UUID, exists bool) {
	if c.shared != nil {
		c.shared.TunnelChanged(client, agent, exists)
	}
}
