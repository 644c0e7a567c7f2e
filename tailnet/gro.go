package tailnet

import (
	"net/netip"
	"sync"

	"tailscale.com/net/packet"
	"tailscale.com/net/tstun"
	"tailscale.com/types/ipproto"
	"tailscale.com/wgengine/filter"
	"tailscale.com/wgengine/netstack/gro"
)

// groBatches keeps each batch of TCP segments that netstack coalesces
// (GRO) to a single connection.
//
// Why: gVisor's GRO flush (google/gvisor#14081, unfixed in every version
// the module proxy serves) delivers only the first connection queued in
// each of its hash buckets and leaves the others there, and tailscale.com
// keeps GRO queues in one process-wide pool. A receive batch holding
// segments of several connections therefore stranded some of them, to be
// delivered later, into whichever netstack in the process took that queue
// from the pool next. With two tailnet nodes in one process (coderd's own
// node and a client, or a test's agent and client) a node received the
// other's TCP segment, answered it with a reset addressed to itself and
// killed a fresh connection of its own: `coder port-forward` connections
// read 0 bytes. With one node per process the stranded segments arrive late
// or never, and TCP has to retransmit them.
//
// A queue that holds one connection's segments is flushed whole: the
// segments of one connection merge into one queued packet. So a batch ends
// (is flushed) when a TCP segment of another connection arrives, and a new
// one starts. A bulk transfer, whose segments come in runs, keeps nearly
// all of GRO's gain; delivering every packet alone would cost a third of
// the direct path's throughput (BenchmarkThroughput/tailnet-direct).
type groBatches struct {
	inject func(*packet.Parsed, *tstun.Wrapper, *gro.GRO) (filter.Response, *gro.GRO)

	mu sync.Mutex
	// conn is the connection each open batch holds. Batches of concurrent
	// receives (wireguard-go delivers each peer's packets on its own
	// goroutine) are distinct queues. A batch ends inside tstun without
	// telling us, so entries linger until the queue is reused or the map
	// is cleared; a batch missing from the map is flushed before reuse.
	conn map[*gro.GRO]flowKey
}

// flowKey names a TCP connection from the receiver's side.
type flowKey struct{ src, dst netip.AddrPort }

// maxTrackedBatches bounds groBatches.conn; far more than the receives that
// can run at once (one per peer).
const maxTrackedBatches = 256

// installGROBatches wraps the hook through which netstack takes packets
// arriving over WireGuard. Call it after netstack.Start, which installs the
// hook, and before the engine has peers (nothing calls it concurrently yet).
func installGROBatches(tun *tstun.Wrapper) {
	inject := tun.PostFilterPacketInboundFromWireGuard
	if inject == nil {
		return
	}
	b := &groBatches{inject: inject, conn: map[*gro.GRO]flowKey{}}
	tun.PostFilterPacketInboundFromWireGuard = b.handle
}

func (b *groBatches) handle(p *packet.Parsed, w *tstun.Wrapper, batch *gro.GRO) (filter.Response, *gro.GRO) {
	if p.IPProto != ipproto.TCP {
		// Not coalesced: netstack takes it at once and batch is unchanged.
		return b.inject(p, w, batch)
	}
	key := flowKey{src: p.Src, dst: p.Dst}
	if batch != nil {
		b.mu.Lock()
		held, ok := b.conn[batch]
		b.mu.Unlock()
		if !ok || held != key {
			batch.Flush() // delivers its one connection's packet; the queue goes back to the pool empty
			batch = nil
		}
	}
	res, next := b.inject(p, w, batch)
	if next != nil && next != batch {
		b.mu.Lock()
		if len(b.conn) >= maxTrackedBatches {
			clear(b.conn)
		}
		b.conn[next] = key
		b.mu.Unlock()
	}
	return res, next
}
