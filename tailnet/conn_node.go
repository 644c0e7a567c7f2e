package tailnet

import (
	"maps"
	"slices"
	"time"

	"tailscale.com/tailcfg"
	"tailscale.com/wgengine"

	"github.com/opencoder/coder/tailnet/proto"
)

// This file tracks our own node description and publishes it.
//
// Upstream learns our home DERP region (netcheck, via the net-info callback)
// and our UDP endpoints (via the engine status callback) asynchronously. Each
// change wakes nodeUpdater, which waits NodeDebounce to coalesce bursts and
// then calls the node callback with the new node, if it differs from the last
// one sent. The first node a callback gets is not debounced.

// Node returns this node's current description, or nil while its home DERP
// region is unknown (peers could not reach it yet).
func (c *Conn) Node() *proto.Node {
	c.nodeMu.Lock()
	defer c.nodeMu.Unlock()
	return c.nodeLocked()
}

// SetNodeCallback registers fn to receive every change of Node (debounced,
// from one goroutine, never concurrently, never with a nil node). The current
// node, if any, is delivered promptly. A nil fn stops delivery.
func (c *Conn) SetNodeCallback(fn func(*proto.Node)) {
	c.nodeMu.Lock()
	c.nodeCallback = fn
	c.lastSent = nil // the new callback has seen nothing yet
	c.nodeMu.Unlock()
	c.signalNodeChanged()
}

func (c *Conn) nodeLocked() *proto.Node {
	if c.preferredDERP == 0 {
		return nil
	}
	n := &proto.Node{
		ID:            c.id,
		AsOf:          time.Now(),
		Key:           c.nodeKey.String(),
		DiscoKey:      c.discoKey.String(),
		PreferredDERP: c.preferredDERP,
		DERPLatency:   maps.Clone(c.derpLatency),
		Addresses:     slices.Clone(c.addresses),
		AllowedIPs:    slices.Clone(c.addresses),
	}
	if !c.blockEndpoints.Load() {
		n.Endpoints = slices.Clone(c.endpoints)
	}
	return n
}

// onNetInfo is magicsock's net-info callback: home DERP and latencies.
func (c *Conn) onNetInfo(ni *tailcfg.NetInfo) {
	c.nodeMu.Lock()
	changed := c.preferredDERP != ni.PreferredDERP && ni.PreferredDERP != 0
	if changed {
		c.preferredDERP = ni.PreferredDERP
		c.traceEvent("tailnet: home DERP region %d chosen (netcheck)", ni.PreferredDERP)
	}
	if !maps.Equal(c.derpLatency, ni.DERPLatency) {
		c.derpLatency = maps.Clone(ni.DERPLatency)
		changed = true
	}
	c.nodeMu.Unlock()
	if changed {
		c.signalNodeChanged()
	}
}

// borrowPeerDERP makes region, a peer's home DERP region, our home region
// until netcheck picks one (it takes a round of probes: tens to hundreds of
// milliseconds). A client that has just learnt its agent's node can then
// publish its own at once instead of making the agent wait for it: our
// first packets to the peer open a connection to that region, and the
// relay delivers the peer's answers on it. Netcheck's choice replaces the
// borrowed region (onNetInfo) and the node is published again. Regions not
// in our DERP map are not borrowed.
func (c *Conn) borrowPeerDERP(region int) {
	c.nodeMu.Lock()
	borrow := c.preferredDERP == 0 && region != 0 && c.derpRegions[region]
	if borrow {
		c.preferredDERP = region
	}
	c.nodeMu.Unlock()
	if borrow {
		// Magicsock's home too, so it keeps that region's connection
		// open as our home until netcheck picks one: without it the
		// first connection waits for netcheck (coder ssh took 3.4 s
		// instead of 0.22 s). Not in -race builds: inside tailscale.com
		// v1.102.5, netcheck's own update of the home region reads it
		// unlocked for a log line, a benign race the detector reports
		// when this call writes it meanwhile. Those builds only wait
		// for netcheck.
		if !raceDetector {
			c.magic.ForceSetNearestDERP(region)
		}
		c.traceEvent("tailnet: home DERP region %d borrowed from a peer until netcheck", region)
		c.signalNodeChanged()
	}
}

// setDERPRegions records which regions the DERP map has.
func (c *Conn) setDERPRegions(m *tailcfg.DERPMap) {
	regions := map[int]bool{}
	if m != nil {
		for id := range m.Regions {
			regions[id] = true
		}
	}
	c.nodeMu.Lock()
	c.derpRegions = regions
	c.nodeMu.Unlock()
}

// onEngineStatus is the engine's status callback: our UDP endpoints.
func (c *Conn) onEngineStatus(st *wgengine.Status, err error) {
	if err != nil || st == nil {
		return
	}
	if c.trace != nil {
		if st.DERPs > 0 {
			c.traceEvent("tailnet: DERP connected")
		}
		for _, p := range st.Peers {
			if !p.LastHandshake.IsZero() {
				c.traceEvent("tailnet: first WireGuard handshake")
			}
		}
	}
	eps := make([]string, 0, len(st.LocalAddrs))
	for _, ep := range st.LocalAddrs {
		eps = append(eps, ep.Addr.String())
	}
	slices.Sort(eps)
	eps = slices.Compact(eps)
	c.nodeMu.Lock()
	changed := !slices.Equal(c.endpoints, eps)
	c.endpoints = eps
	c.nodeMu.Unlock()
	if changed {
		c.signalNodeChanged()
	}
}

func (c *Conn) signalNodeChanged() {
	select {
	case c.nodeChanged <- struct{}{}:
	default:
	}
}

// nodeUpdater owns node publication. Started by NewConn, joined by Close.
func (c *Conn) nodeUpdater() {
	defer c.wg.Done()
	var (
		timer  *time.Timer
		timerC <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-c.closed:
			return
		case <-c.nodeChanged:
			// The first node goes out at once: until peers have it they
			// cannot answer us, and a connection is waiting for that.
			// Later changes are debounced.
			if timer == nil && !c.hasSent() {
				c.publishNode()
				continue
			}
			if timer == nil {
				timer = time.NewTimer(c.debounce)
				timerC = timer.C
			}
		case <-timerC:
			timer, timerC = nil, nil
			c.publishNode()
		}
	}
}

// hasSent reports whether the current callback has had a node.
func (c *Conn) hasSent() bool {
	c.nodeMu.Lock()
	defer c.nodeMu.Unlock()
	return c.lastSent != nil
}

func (c *Conn) publishNode() {
	c.nodeMu.Lock()
	n := c.nodeLocked()
	fn := c.nodeCallback
	if n == nil || fn == nil || sameNode(c.lastSent, n) {
		c.nodeMu.Unlock()
		return
	}
	c.lastSent = n
	c.nodeMu.Unlock()
	c.traceEvent("tailnet: node published (%d endpoints)", len(n.Endpoints))
	fn(n)
}

// sameNode compares two nodes ignoring AsOf.
func sameNode(a, b *proto.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Key == b.Key && a.DiscoKey == b.DiscoKey &&
		a.PreferredDERP == b.PreferredDERP &&
		maps.Equal(a.DERPLatency, b.DERPLatency) &&
		slices.Equal(a.Addresses, b.Addresses) &&
		slices.Equal(a.AllowedIPs, b.AllowedIPs) &&
		slices.Equal(a.Endpoints, b.Endpoints)
}
