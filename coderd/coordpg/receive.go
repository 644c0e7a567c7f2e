package coordpg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/tailnet/proto"
)

// The receiving half. watch records which local peers want which remote
// peers' nodes and what each was last given; notifications mark remote
// peers (or local agents' tunnel sets) for a fresh look, and one goroutine
// reads the rows and delivers the differences into the core.

// sentState is what a local peer was last given about a remote one: a
// node (its JSON), or "gone" (lost or disconnected), or nothing yet.
type sentState struct {
	node []byte
	gone bool
}

// recvState is guarded by Coordinator.mu.
type recvState struct {
	// watch[remote][local]: local wants remote's node. Sources: a local
	// client's tunnel to an agent (kept even while the agent is local, so
	// it is followed when it moves), and a remote client's tunnel to a
	// local agent (remoteClients).
	watch map[uuid.UUID]map[uuid.UUID]*sentState
	// localAgents are the agents connected here; remoteClients[agent] the
	// clients of other coordinators with a tunnel to it.
	localAgents   map[uuid.UUID]struct{}
	remoteClients map[uuid.UUID]map[uuid.UUID]struct{}

	// Pending work for recvLoop.
	peers  map[uuid.UUID]struct{} // remote peers to read again
	agents map[uuid.UUID]struct{} // local agents whose tunnels to read again
	all    bool                   // read everything again
}

func (r *recvState) reset() {
	r.watch = make(map[uuid.UUID]map[uuid.UUID]*sentState)
	r.localAgents = make(map[uuid.UUID]struct{})
	r.remoteClients = make(map[uuid.UUID]map[uuid.UUID]struct{})
	r.peers = make(map[uuid.UUID]struct{})
	r.agents = make(map[uuid.UUID]struct{})
	r.all = false
}

func (r *recvState) addWatch(remote, local uuid.UUID) {
	if r.watch[remote] == nil {
		r.watch[remote] = make(map[uuid.UUID]*sentState)
	}
	if _, ok := r.watch[remote][local]; !ok {
		r.watch[remote][local] = &sentState{}
	}
}

func (r *recvState) removeWatch(remote, local uuid.UUID) {
	delete(r.watch[remote], local)
	if len(r.watch[remote]) == 0 {
		delete(r.watch, remote)
	}
}

// localChanged follows a local peer: while it is here the core speaks for
// it, so what was relayed about it from elsewhere is forgotten; when it
// leaves, its partners here are told where it is now, if anywhere.
func (r *recvState) localChanged(id uuid.UUID, agent, left bool) {
	for _, s := range r.watch[id] {
		*s = sentState{}
	}
	if !left {
		if _, ok := r.localAgents[id]; agent && !ok {
			r.localAgents[id] = struct{}{}
			r.agents[id] = struct{}{} // pick up remote clients' tunnels
		}
		return
	}
	if len(r.watch[id]) > 0 {
		r.peers[id] = struct{}{}
	}
	if agent {
		delete(r.localAgents, id)
		for client := range r.remoteClients[id] {
			r.removeWatch(client, id)
		}
		delete(r.remoteClients, id)
	}
}

func (r *recvState) localTunnelChanged(client, agent uuid.UUID, exists bool) {
	if !exists {
		r.removeWatch(agent, client)
		return
	}
	r.addWatch(agent, client)
	if _, local := r.localAgents[agent]; !local {
		r.peers[agent] = struct{}{}
	}
}

// onNotify runs on the pubsub listener: it only marks work.
func (c *Coordinator) onNotify(payload []byte, err error) {
	c.mu.Lock()
	defer signal(c.recvWake)
	defer c.mu.Unlock()
	if errors.Is(err, pubsub.ErrDroppedMessages) {
		c.r.all = true
		return
	}
	kind, ids, ok := parsePayload(string(payload))
	if !ok {
		c.log.Warn("shared coordinator: malformed notification", "payload", string(payload))
		return
	}
	switch kind {
	case "p":
		if ids[0] != c.id && len(c.r.watch[ids[1]]) > 0 {
			c.r.peers[ids[1]] = struct{}{}
		}
	case "t":
		if _, local := c.r.localAgents[ids[2]]; ids[0] != c.id && local {
			c.r.agents[ids[2]] = struct{}{}
		}
	case "d":
		c.r.all = true
	}
}

func (c *Coordinator) recvLoop(ctx context.Context) {
	bo := backoff.New(50*time.Millisecond, c.opts.HeartbeatInterval)
	var retry <-chan time.Time // nil: no retry pending
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.recvWake:
		case <-retry:
		}
		retry = nil
		if err := c.receive(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("shared coordinator: read remote peers", "error", err)
			retry = time.After(bo.Next())
			continue
		}
		bo.Reset()
	}
}

// delivery is one update for a local peer.
type delivery struct {
	to uuid.UUID
	u  proto.PeerUpdate
}

// receive does the pending work: re-reads the marked local agents' remote
// tunnels and the marked remote peers, and delivers what changed.
func (c *Coordinator) receive(ctx context.Context) error {
	c.mu.Lock()
	if !c.healthy {
		c.mu.Unlock()
		return nil
	}
	id := c.id
	peers, agents := c.r.peers, c.r.agents
	if c.r.all {
		for p := range c.r.watch {
			peers[p] = struct{}{}
		}
		for a := range c.r.localAgents {
			agents[a] = struct{}{}
		}
	}
	c.r.peers, c.r.agents, c.r.all = make(map[uuid.UUID]struct{}), make(map[uuid.UUID]struct{}), false
	c.mu.Unlock()
	requeue := func() {
		c.mu.Lock()
		if c.id == id {
			for p := range peers {
				c.r.peers[p] = struct{}{}
			}
			for a := range agents {
				c.r.agents[a] = struct{}{}
			}
		}
		c.mu.Unlock()
	}
	if len(peers) == 0 && len(agents) == 0 {
		return nil
	}

	// Tunnels first: they decide which remote clients are watched.
	tunnels, err := c.db.GetTailnetTunnelsTo(ctx, keys(agents), id)
	if err != nil {
		requeue()
		return err
	}
	type removal struct{ client, agent uuid.UUID }
	var removed []removal
	c.mu.Lock()
	if c.id != id {
		c.mu.Unlock()
		return nil
	}
	now := make(map[uuid.UUID]map[uuid.UUID]struct{})
	for _, t := range tunnels {
		if now[t.DstID] == nil {
			now[t.DstID] = make(map[uuid.UUID]struct{})
		}
		now[t.DstID][t.SrcID] = struct{}{}
	}
	for agent := range agents {
		if _, local := c.r.localAgents[agent]; !local {
			continue
		}
		for client := range now[agent] {
			if _, ok := c.r.remoteClients[agent][client]; !ok {
				c.r.addWatch(client, agent)
				peers[client] = struct{}{}
			}
		}
		for client := range c.r.remoteClients[agent] {
			if _, ok := now[agent][client]; ok {
				continue
			}
			if s := c.r.watch[client][agent]; s != nil && s.node != nil {
				removed = append(removed, removal{client, agent})
				peers[client] = struct{}{}
			}
			c.r.removeWatch(client, agent)
		}
		if len(now[agent]) > 0 {
			c.r.remoteClients[agent] = now[agent]
		} else {
			delete(c.r.remoteClients, agent)
		}
	}
	c.mu.Unlock()

	rows, err := c.db.GetTailnetPeers(ctx, keys(peers), id)
	if err != nil {
		requeue()
		return err
	}
	states := peerStates(rows)

	var out []delivery
	c.mu.Lock()
	if c.id != id {
		c.mu.Unlock()
		return nil
	}
	for p := range peers {
		st := states[p]
		for local, s := range c.r.watch[p] {
			if d, ok := st.diff(p, s); ok {
				out = append(out, delivery{to: local, u: d})
			}
		}
	}
	for _, rm := range removed {
		kind, reason := proto.PeerDisconnected, "tunnel removed"
		if st := states[rm.client]; st.lost && !st.ok {
			kind, reason = proto.PeerLost, "coordination connection lost"
		}
		out = append(out, delivery{to: rm.agent, u: proto.PeerUpdate{ID: rm.client, Kind: kind, Reason: reason}})
	}
	c.mu.Unlock()
	for _, d := range out {
		if c.core.Deliver(d.to, d.u) {
			c.m.delivered.Add(1)
		}
	}
	return nil
}

// peerState is what the rows say about a remote peer.
type peerState struct {
	ok   bool   // connected somewhere (the newest such row wins)
	node []byte // its node, nil before it published one
	at   time.Time
	lost bool // a lost row exists
}

func peerStates(rows []database.TailnetPeer) map[uuid.UUID]peerState {
	out := make(map[uuid.UUID]peerState)
	for _, r := range rows {
		st := out[r.ID]
		switch {
		case r.Lost:
			st.lost = true
		case !st.ok || r.UpdatedAt.After(st.at):
			st.ok, st.node, st.at = true, r.Node, r.UpdatedAt
		}
		out[r.ID] = st
	}
	return out
}

// diff returns the update that brings a local peer from what it was last
// given (s, updated in place) to st, if any. A peer never given a node is
// not told that it is gone.
func (st peerState) diff(id uuid.UUID, s *sentState) (proto.PeerUpdate, bool) {
	switch {
	case st.ok && st.node != nil:
		if bytes.Equal(s.node, st.node) {
			return proto.PeerUpdate{}, false
		}
		var n proto.Node
		if err := json.Unmarshal(st.node, &n); err != nil {
			return proto.PeerUpdate{}, false // written by us from a proto.Node
		}
		*s = sentState{node: st.node}
		return proto.PeerUpdate{ID: id, Kind: proto.PeerNode, Node: &n}, true
	case st.ok: // connected, no node yet
		return proto.PeerUpdate{}, false
	case s.node == nil:
		s.gone = true
		return proto.PeerUpdate{}, false
	}
	*s = sentState{gone: true}
	if st.lost {
		return proto.PeerUpdate{ID: id, Kind: proto.PeerLost, Reason: "coordination connection lost"}, true
	}
	return proto.PeerUpdate{ID: id, Kind: proto.PeerDisconnected, Reason: "peer disconnected"}, true
}

func keys(m map[uuid.UUID]struct{}) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
