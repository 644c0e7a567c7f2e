package tailnet

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/wgengine"

	"github.com/opencoder/coder/tailnet/proto"
)

// This file turns peer updates from the coordinator into magicsock and
// WireGuard configuration.
//
// There is no control server: each peer's proto.Node becomes a tailcfg.Node
// that is upserted into magicsock (paths, disco) one at a time, and the
// engine learns allowed IPs lazily through the lookup funcs below, which read
// an immutable peerTable snapshot swapped atomically on every change.

// peer is one configured peer. Guarded by Conn.peerMu.
type peer struct {
	id        uuid.UUID
	nodeID    tailcfg.NodeID
	node      *proto.Node // last node received
	key       key.NodePublic
	disco     key.DiscoPublic
	view      tailcfg.NodeView // as last given to magicsock
	lost      bool
	lostTimer *time.Timer
}

// peerTable is an immutable snapshot of the peers for the packet path.
type peerTable struct {
	byKey    map[key.NodePublic]*peerEntry
	byAddr   map[netip.Addr]*peerEntry // single-IP allowed IPs
	prefixes []prefixEntry             // wider allowed IPs, rarely any
}

type peerEntry struct {
	key     key.NodePublic
	view    tailcfg.NodeView
	allowed []netip.Prefix
}

type prefixEntry struct {
	prefix netip.Prefix
	entry  *peerEntry
}

// UpdatePeers applies updates from the coordinator: "node" upserts a peer,
// "disconnected" removes it, "lost" keeps it for LostPeerTimeout (its data
// path may outlive its coordination connection) unless a new node arrives.
// Every update is attempted; the returned error joins the failures.
func (c *Conn) UpdatePeers(updates []proto.PeerUpdate) error {
	c.peerMu.Lock()
	defer c.peerMu.Unlock()
	// Checked under peerMu: Close marks the Conn closed, then takes peerMu
	// before tearing the engine down, so no update overlaps the teardown.
	if c.isClosed() {
		return ErrClosed
	}
	var errs []error
	for _, u := range updates {
		if err := c.updatePeerLocked(u); err != nil {
			errs = append(errs, fmt.Errorf("peer %s: %w", u.ID, err))
		}
	}
	c.rebuildPeerTableLocked()
	return errors.Join(errs...)
}

func (c *Conn) updatePeerLocked(u proto.PeerUpdate) error {
	switch u.Kind {
	case proto.PeerNode:
		if u.Node == nil {
			return errors.New("node update without node")
		}
		c.traceEvent("tailnet: peer node received (home DERP %d, %d endpoints)", u.Node.PreferredDERP, len(u.Node.Endpoints))
		return c.upsertPeerLocked(u.ID, u.Node)
	case proto.PeerDisconnected:
		c.removePeerLocked(u.ID)
		return nil
	case proto.PeerLost:
		p, ok := c.peers[u.ID]
		if !ok || p.lost {
			return nil
		}
		p.lost = true
		id := u.ID
		p.lostTimer = time.AfterFunc(c.lostTimeout, func() { c.expireLostPeer(id, p) })
		return nil
	default:
		return fmt.Errorf("unknown peer update kind %q", u.Kind)
	}
}

func (c *Conn) upsertPeerLocked(id uuid.UUID, n *proto.Node) error {
	var nodeKey key.NodePublic
	if err := nodeKey.UnmarshalText([]byte(n.Key)); err != nil {
		return fmt.Errorf("parse node key: %w", err)
	}
	var disco key.DiscoPublic
	if err := disco.UnmarshalText([]byte(n.DiscoKey)); err != nil {
		return fmt.Errorf("parse disco key: %w", err)
	}
	if nodeKey == c.nodeKey {
		return errors.New("peer has our own node key")
	}
	p, ok := c.peers[id]
	if ok && p.node != nil && n.AsOf.Before(p.node.AsOf) {
		return nil // stale; a newer node was already applied
	}
	if !ok {
		c.nextNodeID++
		p = &peer{id: id, nodeID: c.nextNodeID}
		c.peers[id] = p
	}
	if p.lostTimer != nil {
		p.lostTimer.Stop()
		p.lostTimer = nil
	}
	p.lost = false
	oldKey, oldDisco := p.key, p.disco
	p.node, p.key, p.disco = n, nodeKey, disco
	if err := c.applyPeerLocked(p); err != nil {
		return err
	}
	// The engine's lookups read the table: publish it before syncing.
	c.rebuildPeerTableLocked()
	if !oldKey.IsZero() && oldKey != nodeKey {
		c.engine.SyncDevicePeer(oldKey) // no longer known: removed
	} else if !oldDisco.IsZero() && oldDisco != disco {
		// A new disco key means the peer restarted; its sessions are dead.
		c.engine.ResetDevicePeer(nodeKey)
	}
	c.engine.SyncDevicePeer(nodeKey)
	c.borrowPeerDERP(n.PreferredDERP)
	return nil
}

// applyPeerLocked (re)builds p's tailcfg.Node and hands it to magicsock.
func (c *Conn) applyPeerLocked(p *peer) error {
	n := p.node
	tn := &tailcfg.Node{
		ID:                p.nodeID,
		StableID:          tailcfg.StableNodeID(p.id.String()),
		Name:              p.id.String(),
		Key:               p.key,
		DiscoKey:          p.disco,
		Addresses:         n.Addresses,
		AllowedIPs:        n.AllowedIPs,
		HomeDERP:          n.PreferredDERP,
		MachineAuthorized: true,
	}
	if len(tn.AllowedIPs) == 0 {
		tn.AllowedIPs = n.Addresses
	}
	if !c.blockEndpoints.Load() {
		for _, s := range n.Endpoints {
			ap, err := netip.ParseAddrPort(s)
			if err != nil {
				c.log.Debug("ignore bad peer endpoint", "peer", p.id, "endpoint", s)
				continue
			}
			tn.Endpoints = append(tn.Endpoints, ap)
		}
	}
	p.view = tn.View()
	c.magic.UpsertPeer(p.view)
	return nil
}

func (c *Conn) removePeerLocked(id uuid.UUID) {
	p, ok := c.peers[id]
	if !ok {
		return
	}
	if p.lostTimer != nil {
		p.lostTimer.Stop()
	}
	delete(c.peers, id)
	c.magic.RemovePeer(p.nodeID)
	c.rebuildPeerTableLocked()
	c.engine.SyncDevicePeer(p.key)
}

// expireLostPeer runs on a timer: it removes p unless it was refreshed.
func (c *Conn) expireLostPeer(id uuid.UUID, p *peer) {
	c.peerMu.Lock()
	defer c.peerMu.Unlock()
	if c.isClosed() {
		return
	}
	if cur, ok := c.peers[id]; ok && cur == p && p.lost {
		c.log.Debug("forget lost peer", "peer", id)
		c.removePeerLocked(id)
	}
}

func (c *Conn) rebuildPeerTableLocked() {
	t := &peerTable{
		byKey:  make(map[key.NodePublic]*peerEntry, len(c.peers)),
		byAddr: make(map[netip.Addr]*peerEntry, len(c.peers)),
	}
	for _, p := range c.peers {
		e := &peerEntry{key: p.key, view: p.view, allowed: p.view.AllowedIPs().AsSlice()}
		t.byKey[p.key] = e
		for _, pfx := range e.allowed {
			if pfx.IsSingleIP() {
				t.byAddr[pfx.Addr()] = e
			} else {
				t.prefixes = append(t.prefixes, prefixEntry{prefix: pfx, entry: e})
			}
		}
	}
	c.peerTable.Store(t)
}

func (t *peerTable) lookupAddr(ip netip.Addr) (*peerEntry, netip.Prefix, bool) {
	if e, ok := t.byAddr[ip]; ok {
		return e, netip.PrefixFrom(ip, ip.BitLen()), true
	}
	for _, pe := range t.prefixes {
		if pe.prefix.Contains(ip) {
			return pe.entry, pe.prefix, true
		}
	}
	return nil, netip.Prefix{}, false
}

// peerAllowedIPs is the engine's peer config source.
func (c *Conn) peerAllowedIPs(k key.NodePublic) ([]netip.Prefix, bool) {
	e, ok := c.peerTable.Load().byKey[k]
	if !ok {
		return nil, false
	}
	return e.allowed, true
}

// peerKeyForIP routes an outbound packet to the peer owning its destination.
func (c *Conn) peerKeyForIP(ip netip.Addr) (key.NodePublic, bool) {
	e, _, ok := c.peerTable.Load().lookupAddr(ip)
	if !ok {
		return key.NodePublic{}, false
	}
	return e.key, true
}

// peerForIP serves the engine's cold paths (ping, diagnostics).
func (c *Conn) peerForIP(ip netip.Addr) (wgengine.PeerForIP, bool) {
	for _, p := range c.addresses {
		if p.Contains(ip) {
			return wgengine.PeerForIP{Node: c.self, IsSelf: true, Route: p}, true
		}
	}
	e, route, ok := c.peerTable.Load().lookupAddr(ip)
	if !ok {
		return wgengine.PeerForIP{}, false
	}
	return wgengine.PeerForIP{Node: e.view, Route: route}, true
}
