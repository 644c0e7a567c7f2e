package coordpg

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/coderd/database"
)

// The sending half: the core's hooks mark peers and tunnels dirty; one
// writer goroutine reads their current state from the core and writes it,
// with its notifications, in one transaction per batch. Marking rather
// than queueing events coalesces a burst of node updates into one write and
// keeps each peer's writes in order.

// maxBatch bounds the peers (and tunnels) written per transaction.
const maxBatch = 500

// Notification payloads on database.TailnetChannel, ids only:
//
//	p <origin coordinator> <peer>            a peer's rows changed
//	t <origin coordinator> <client> <agent>  a tunnel's rows changed
//	d <coordinator>                          a coordinator and its peers are gone
func peerPayload(origin, peer uuid.UUID) string { return "p " + origin.String() + " " + peer.String() }

func tunnelPayload(origin uuid.UUID, t tunnelKey) string {
	return "t " + origin.String() + " " + t.client.String() + " " + t.agent.String()
}

func deadPayload(id uuid.UUID) string { return "d " + id.String() }

// parsePayload splits a payload into its kind and ids; ok is false for
// anything malformed.
func parsePayload(s string) (kind string, ids []uuid.UUID, ok bool) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return "", nil, false
	}
	want := map[string]int{"p": 2, "t": 3, "d": 1}[f[0]]
	if want == 0 || len(f)-1 != want {
		return "", nil, false
	}
	for _, v := range f[1:] {
		id, err := uuid.Parse(v)
		if err != nil {
			return "", nil, false
		}
		ids = append(ids, id)
	}
	return f[0], ids, true
}

type tunnelKey struct{ client, agent uuid.UUID }

// writeQueue is what the writer still has to write. Guarded by
// Coordinator.mu.
type writeQueue struct {
	peers map[uuid.UUID]struct{}
	// lost remembers how a departed peer left, for peers in peers that
	// are no longer connected: lost (true) or with a goodbye.
	lost    map[uuid.UUID]bool
	tunnels map[tunnelKey]struct{}
}

func (q *writeQueue) reset() {
	q.peers = make(map[uuid.UUID]struct{})
	q.lost = make(map[uuid.UUID]bool)
	q.tunnels = make(map[tunnelKey]struct{})
}

// PeerChanged implements tailnet.Shared (called with the core's lock held).
func (c *Coordinator) PeerChanged(id uuid.UUID, agent, left, lost bool) {
	c.mu.Lock()
	c.w.peers[id] = struct{}{}
	if left {
		c.w.lost[id] = lost
		delete(c.local, id)
	} else {
		delete(c.w.lost, id)
		c.local[id] = agent
	}
	c.r.localChanged(id, agent, left)
	c.mu.Unlock()
	signal(c.writeWake)
	signal(c.recvWake)
}

// TunnelChanged implements tailnet.Shared (called with the core's lock
// held).
func (c *Coordinator) TunnelChanged(client, agent uuid.UUID, exists bool) {
	c.mu.Lock()
	c.w.tunnels[tunnelKey{client, agent}] = struct{}{}
	c.r.localTunnelChanged(client, agent, exists)
	c.mu.Unlock()
	signal(c.writeWake)
	signal(c.recvWake)
}

func (c *Coordinator) writeLoop(ctx context.Context) {
	bo := backoff.New(50*time.Millisecond, c.opts.HeartbeatInterval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.writeWake:
		}
		for {
			more, err := c.writeBatch(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				c.log.Warn("shared coordinator: write", "error", err)
				if !bo.Wait(ctx) {
					return
				}
				continue
			}
			bo.Reset()
			if !more {
				break
			}
		}
	}
}

// writeBatch writes up to maxBatch dirty peers and tunnels. more reports
// that some are left. On error the batch is marked dirty again.
func (c *Coordinator) writeBatch(ctx context.Context) (more bool, _ error) {
	c.mu.Lock()
	if !c.healthy {
		c.mu.Unlock()
		return false, nil // recovery starts afresh
	}
	id := c.id
	var peers []uuid.UUID
	lost := make(map[uuid.UUID]bool)
	for p := range c.w.peers {
		if len(peers) == maxBatch {
			more = true
			break
		}
		peers = append(peers, p)
		delete(c.w.peers, p)
		if l, ok := c.w.lost[p]; ok {
			lost[p] = l
			delete(c.w.lost, p)
		}
	}
	var tunnels []tunnelKey
	for t := range c.w.tunnels {
		if len(tunnels) == maxBatch {
			more = true
			break
		}
		tunnels = append(tunnels, t)
		delete(c.w.tunnels, t)
	}
	c.mu.Unlock()
	if len(peers) == 0 && len(tunnels) == 0 {
		return false, nil
	}

	var ch database.TailnetChanges
	for _, p := range peers {
		node, agent, ok := c.core.LocalPeer(p)
		switch {
		case ok:
			var raw []byte
			if node != nil {
				var err error
				if raw, err = json.Marshal(node); err != nil {
					return more, err // cannot happen: proto types marshal
				}
			}
			ch.Upsert = append(ch.Upsert, database.TailnetPeerState{ID: p, IsAgent: agent, Node: raw})
		case lost[p]:
			ch.Lost = append(ch.Lost, p)
		default:
			ch.Gone = append(ch.Gone, p)
		}
		ch.Notify = append(ch.Notify, peerPayload(id, p))
	}
	for _, t := range tunnels {
		tt := database.TailnetTunnel{SrcID: t.client, DstID: t.agent}
		if c.core.LocalTunnel(t.client, t.agent) {
			ch.AddTunnels = append(ch.AddTunnels, tt)
		} else {
			ch.RemoveTunnels = append(ch.RemoveTunnels, tt)
		}
		ch.Notify = append(ch.Notify, tunnelPayload(id, t))
	}
	start := time.Now()
	alive, err := c.db.ApplyTailnetChanges(ctx, id, ch)
	if err != nil {
		c.m.writesFailed.Add(1)
		c.mu.Lock()
		if c.id == id { // not after a recovery: those peers are gone
			for _, p := range peers {
				c.w.peers[p] = struct{}{}
				if l, ok := lost[p]; ok {
					if _, newer := c.w.lost[p]; !newer {
						c.w.lost[p] = l
					}
				}
			}
			for _, t := range tunnels {
				c.w.tunnels[t] = struct{}{}
			}
		}
		c.mu.Unlock()
		return more, err
	}
	c.m.writesOK.Add(1)
	c.m.writeSeconds.Observe(time.Since(start).Seconds())
	if !alive && c.Healthy() {
		// Declared dead by the others: the heartbeat loop notices too;
		// stop serving now rather than at its next tick.
		c.log.Error("shared coordinator was removed by another replica; disconnecting its peers")
		c.suspend()
	}
	return more, nil
}
