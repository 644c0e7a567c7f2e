package tailnet

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"

	"github.com/google/uuid"

	"github.com/opencoder/coder/tailnet/proto"
)

// ErrNotAuthorised is the refusal a client gets for a tunnel it may not open.
var ErrNotAuthorised = errors.New("not authorised")

// ErrCoordinatorClosed is returned when the coordinator shuts down.
var ErrCoordinatorClosed = errors.New("coordinator closed")

// respQueueSize bounds the messages waiting for one slow peer; a peer that
// falls this far behind is disconnected (it reconnects and gets fresh
// nodes) rather than allowed to stall everyone else.
const respQueueSize = 512

// Coordinator exchanges node descriptions between agents and the clients
// allowed to reach them. It is in-memory (one coderd); it knows nothing of
// HTTP or websockets (see ServeAgent and ServeClient for that).
//
// Model: a client opens a tunnel to an agent (AddTunnel), which it may do only
// for the agent coderd authorised the connection for. Both ends of a tunnel
// receive each other's node whenever it changes, and "disconnected" or
// "lost" when the other end leaves. Tunnels belong to the client: they
// survive the agent reconnecting, and end when the client leaves.
//
// Concurrency: every field below mu is guarded by it; the core never blocks
// while holding it (sends go to bounded per-peer queues).
type Coordinator struct {
	log *slog.Logger

	// serving counts running Serve calls; Close waits for them.
	serving sync.WaitGroup

	mu             sync.Mutex
	closed         bool
	suspended      bool
	blockEndpoints bool
	// shared, when set, spans processes (coordinator_shared.go).
	shared Shared
	peers  map[uuid.UUID]*coordPeer
	// tunnels[client][agent] and reverse[agent][client].
	tunnels map[uuid.UUID]map[uuid.UUID]struct{}
	reverse map[uuid.UUID]map[uuid.UUID]struct{}
	// addrOwner maps each claimed tailnet address to the peer claiming it,
	// so no node can take over another's address.
	addrOwner map[netip.Addr]uuid.UUID
}

// coordPeer is one connected node. Its fields are guarded by
// Coordinator.mu, except resps (a channel) and done.
type coordPeer struct {
	id    uuid.UUID
	agent bool
	// authorise reports whether a client may tunnel to an agent ID.
	authorise func(uuid.UUID) bool
	node      *proto.Node
	resps     chan *proto.CoordinateResponse
	// done is closed when the core drops the peer (replaced, too slow,
	// coordinator closed); the transport then ends the connection.
	done    chan struct{}
	dropped bool
}

// NewCoordinator returns an empty coordinator. Close it on shutdown.
func NewCoordinator(log *slog.Logger) *Coordinator {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Coordinator{
		log:       log,
		peers:     make(map[uuid.UUID]*coordPeer),
		tunnels:   make(map[uuid.UUID]map[uuid.UUID]struct{}),
		reverse:   make(map[uuid.UUID]map[uuid.UUID]struct{}),
		addrOwner: make(map[netip.Addr]uuid.UUID),
	}
}

// SetBlockEndpoints makes the coordinator strip endpoints from every node it
// relays (deployment-wide relay only). Nodes relayed earlier are not
// re-sent; set it before serving.
func (c *Coordinator) SetBlockEndpoints(block bool) {
	c.mu.Lock()
	c.blockEndpoints = block
	c.mu.Unlock()
}

// Close disconnects every peer and waits for their Serve calls to return.
// It is idempotent.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		for _, p := range c.peers {
			c.dropLocked(p)
		}
	}
	c.mu.Unlock()
	c.serving.Wait()
	return nil
}

// register adds a connected peer, replacing (and dropping) an earlier
// connection with the same ID.
func (c *Coordinator) register(p *coordPeer) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrCoordinatorClosed
	}
	if c.suspended {
		return ErrCoordinatorUnavailable
	}
	if old, ok := c.peers[p.id]; ok {
		c.log.Info("coordination connection replaced", "peer", p.id)
		c.leaveLocked(old, proto.PeerLost, "replaced by a new connection")
	}
	c.peers[p.id] = p
	c.serving.Add(1)
	c.peerChangedLocked(p, false, false)
	if p.agent {
		// Tunnels outlive the agent's connection: clients that opened one
		// while it was away (or that it knew before it reconnected) sent
		// their nodes to nobody, and would never be answered.
		for client := range c.reverse[p.id] {
			if cp, ok := c.peers[client]; ok && cp.node != nil {
				c.sendLocked(p.id, proto.PeerUpdate{ID: client, Kind: proto.PeerNode, Node: cp.node})
			}
		}
	}
	return nil
}

// leave removes p after its connection ended. graceful selects
// "disconnected" over "lost" for its peers.
func (c *Coordinator) leave(p *coordPeer, graceful bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.peers[p.id]; ok && cur == p {
		kind, reason := proto.PeerLost, "coordination connection lost"
		if graceful {
			kind, reason = proto.PeerDisconnected, "peer disconnected"
		}
		c.leaveLocked(p, kind, reason)
	}
	c.serving.Done()
}

func (c *Coordinator) leaveLocked(p *coordPeer, kind proto.PeerUpdateKind, reason string) {
	delete(c.peers, p.id)
	c.releaseAddrsLocked(p)
	update := proto.PeerUpdate{ID: p.id, Kind: kind, Reason: reason}
	// The shared layer hears of the departure before the tunnels it ends:
	// it may write them in separate transactions, and another process that
	// saw a client's tunnels go first would tell the agent "tunnel
	// removed" instead of how the client left (lost or goodbye).
	c.peerChangedLocked(p, true, kind == proto.PeerLost)
	if p.agent {
		// Clients keep their tunnels; they get the node when it returns.
		for client := range c.reverse[p.id] {
			c.sendLocked(client, update)
		}
	} else {
		for agent := range c.tunnels[p.id] {
			c.sendLocked(agent, update)
			c.deleteTunnelLocked(p.id, agent)
		}
	}
	c.dropLocked(p)
}

// handle applies one request from p. A non-nil error is reported back to p
// (the connection stays open).
func (c *Coordinator) handle(p *coordPeer, req *proto.CoordinateRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peers[p.id] != p {
		return nil // already replaced or dropped
	}
	var errs []error
	if req.UpdateSelf != nil {
		if err := c.updateSelfLocked(p, req.UpdateSelf); err != nil {
			errs = append(errs, err)
		}
	}
	if req.AddTunnel != nil {
		if err := c.addTunnelLocked(p, *req.AddTunnel); err != nil {
			errs = append(errs, err)
		}
	}
	if req.RemoveTunnel != nil {
		c.removeTunnelLocked(p, *req.RemoveTunnel)
	}
	return errors.Join(errs...)
}

func (c *Coordinator) updateSelfLocked(p *coordPeer, n *proto.Node) error {
	if err := c.validateNodeLocked(p, n); err != nil {
		return fmt.Errorf("invalid node: %w", err)
	}
	cp := *n
	cp.ID = p.id
	if c.blockEndpoints {
		cp.Endpoints = nil
	}
	c.releaseAddrsLocked(p)
	for _, a := range cp.Addresses {
		c.addrOwner[a.Addr()] = p.id
	}
	p.node = &cp
	c.peerChangedLocked(p, false, false)
	update := proto.PeerUpdate{ID: p.id, Kind: proto.PeerNode, Node: &cp}
	if p.agent {
		for client := range c.reverse[p.id] {
			c.sendLocked(client, update)
		}
	} else {
		for agent := range c.tunnels[p.id] {
			c.sendLocked(agent, update)
		}
	}
	return nil
}

// validateNodeLocked keeps nodes from claiming addresses that are not
// theirs: an agent must use AgentIP(its ID); a client must use client
// addresses (IsClientIP) not claimed by another connected peer.
func (c *Coordinator) validateNodeLocked(p *coordPeer, n *proto.Node) error {
	if len(n.Addresses) == 0 {
		return errors.New("no addresses")
	}
	for _, a := range n.Addresses {
		if !a.IsSingleIP() || !AddressPrefix.Contains(a.Addr()) {
			return fmt.Errorf("address %v outside %v", a, AddressPrefix)
		}
		if p.agent && a.Addr() != AgentIP(p.id) {
			return fmt.Errorf("agent address %v, want %v", a, AgentIP(p.id))
		}
		if !p.agent && !IsClientIP(a.Addr()) {
			return fmt.Errorf("client address %v is not a client address", a)
		}
		if owner, ok := c.addrOwner[a.Addr()]; ok && owner != p.id {
			return fmt.Errorf("address %v is in use", a)
		}
	}
	for _, a := range n.AllowedIPs {
		if !a.IsSingleIP() || !containsPrefix(n.Addresses, a) {
			return fmt.Errorf("allowed IP %v is not one of the addresses", a)
		}
	}
	return nil
}

func containsPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func (c *Coordinator) releaseAddrsLocked(p *coordPeer) {
	if p.node == nil {
		return
	}
	for _, a := range p.node.Addresses {
		if c.addrOwner[a.Addr()] == p.id {
			delete(c.addrOwner, a.Addr())
		}
	}
}

func (c *Coordinator) addTunnelLocked(p *coordPeer, agent uuid.UUID) error {
	if p.agent || p.authorise == nil || !p.authorise(agent) {
		return fmt.Errorf("add tunnel to %s: %w", agent, ErrNotAuthorised)
	}
	if _, ok := c.tunnels[p.id][agent]; ok {
		return nil
	}
	if c.tunnels[p.id] == nil {
		c.tunnels[p.id] = make(map[uuid.UUID]struct{})
	}
	c.tunnels[p.id][agent] = struct{}{}
	if c.reverse[agent] == nil {
		c.reverse[agent] = make(map[uuid.UUID]struct{})
	}
	c.reverse[agent][p.id] = struct{}{}
	c.tunnelChangedLocked(p.id, agent, true)

	if a, ok := c.peers[agent]; ok && a.node != nil {
		c.sendLocked(p.id, proto.PeerUpdate{ID: agent, Kind: proto.PeerNode, Node: a.node})
	}
	if p.node != nil {
		c.sendLocked(agent, proto.PeerUpdate{ID: p.id, Kind: proto.PeerNode, Node: p.node})
	}
	return nil
}

func (c *Coordinator) removeTunnelLocked(p *coordPeer, agent uuid.UUID) {
	if _, ok := c.tunnels[p.id][agent]; !ok {
		return
	}
	c.deleteTunnelLocked(p.id, agent)
	c.sendLocked(p.id, proto.PeerUpdate{ID: agent, Kind: proto.PeerDisconnected, Reason: "tunnel removed"})
	c.sendLocked(agent, proto.PeerUpdate{ID: p.id, Kind: proto.PeerDisconnected, Reason: "tunnel removed"})
}

func (c *Coordinator) deleteTunnelLocked(client, agent uuid.UUID) {
	delete(c.tunnels[client], agent)
	if len(c.tunnels[client]) == 0 {
		delete(c.tunnels, client)
	}
	delete(c.reverse[agent], client)
	if len(c.reverse[agent]) == 0 {
		delete(c.reverse, agent)
	}
	c.tunnelChangedLocked(client, agent, false)
}

// sendLocked queues an update for the connected peer id, if any. A peer
// whose queue is full is dropped.
func (c *Coordinator) sendLocked(id uuid.UUID, u proto.PeerUpdate) {
	p, ok := c.peers[id]
	if !ok || p.dropped {
		return
	}
	select {
	case p.resps <- &proto.CoordinateResponse{PeerUpdates: []proto.PeerUpdate{u}}:
	default:
		c.log.Warn("coordination peer too slow; disconnecting it", "peer", id)
		c.leaveLocked(p, proto.PeerLost, "peer too slow")
	}
}

// dropLocked tells p's transport to hang up.
func (c *Coordinator) dropLocked(p *coordPeer) {
	if !p.dropped {
		p.dropped = true
		close(p.done)
	}
}
