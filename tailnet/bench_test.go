package tailnet

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/tailnet/proto"
)

// benchChunk is the bytes written per benchmark op.
const benchChunk = 1 << 20

// BenchmarkThroughput compares one TCP stream over the tailnet, direct and
// DERP-relayed, with plain loopback TCP (the ceiling). Reported MB/s is
// goodput of b.N one-MiB writes, acknowledged by the receiver.
func BenchmarkThroughput(b *testing.B) {
	b.Run("loopback-tcp", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(b, err)
		sink(b, ln)
		nc, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(b, err)
		defer nc.Close()
		pump(b, nc)
	})
	for _, tc := range []struct {
		name  string
		block bool
	}{{"tailnet-direct", false}, {"tailnet-derp", true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := testContext(b)
			relay := newTestRelay(b)
			agentID, agent := newTestConn(b, relay.derpMap, true, tc.block)
			clientID, client := newTestConn(b, relay.derpMap, false, tc.block)
			linkPeers(b, agentID, agent, clientID, client)
			ln, err := agent.Listen("tcp", ":5201")
			require.NoError(b, err)
			sink(b, ln)
			dst := netip.AddrPortFrom(AgentIP(agentID), 5201)
			require.True(b, client.AwaitReachable(ctx, dst.Addr()))
			if !tc.block {
				ln2, err := agent.Listen("tcp", ":5202")
				require.NoError(b, err)
				echoServe(b, ln2)
				waitPath(ctx, b, client, agentID, netip.AddrPortFrom(dst.Addr(), 5202), true)
			}
			nc, err := client.DialContextTCP(ctx, dst)
			require.NoError(b, err)
			defer nc.Close()
			pump(b, nc)
			ps, _ := client.PeerStatus(agentID)
			require.Equal(b, !tc.block, ps.Direct, "path changed during the run: %+v", ps)
		})
	}
}

// sink accepts connections that announce a length, read that many bytes
// and acknowledge with one byte.
func sink(b *testing.B, ln net.Listener) {
	serveConns(b, ln, func(nc net.Conn) {
		for {
			var n uint64
			if err := binary.Read(nc, binary.BigEndian, &n); err != nil {
				return
			}
			if _, err := io.CopyN(io.Discard, nc, int64(n)); err != nil {
				return
			}
			if _, err := nc.Write([]byte{1}); err != nil {
				return
			}
		}
	})
}

// pump writes b.N chunks through nc and waits for the receiver's ack.
func pump(b *testing.B, nc net.Conn) {
	buf := make([]byte, benchChunk)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	require.NoError(b, binary.Write(nc, binary.BigEndian, uint64(b.N)*benchChunk))
	for range b.N {
		_, err := nc.Write(buf)
		require.NoError(b, err)
	}
	var ack [1]byte
	_, err := io.ReadFull(nc, ack[:])
	require.NoError(b, err)
	b.StopTimer()
}

// BenchmarkCoordinator measures the coordinator core with N connected
// agent+client pairs, over in-memory streams that still JSON-encode every
// message. Each op publishes a new node for one agent and waits until that
// agent's client has decoded it; four workers run ops concurrently on
// disjoint agents. Reported: latency of an update (p50/p99) and the memory
// (heap plus goroutine stacks) held per connected pair, both ends' streams
// included.
// With -short (the CI smoke) only the smallest size runs.
func BenchmarkCoordinator(b *testing.B) {
	sizes := []int{10, 100, 1000, 5000}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, pairs := range sizes {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			benchCoordinator(b, pairs)
		})
	}
}

func benchCoordinator(b *testing.B, pairs int) {
	ctx := testContext(b)
	coord := NewCoordinator(testLogger(b))
	var serveWG sync.WaitGroup
	b.Cleanup(func() {
		_ = coord.Close()
		serveWG.Wait()
	})

	var (
		mu        sync.Mutex
		latencies []time.Duration
	)
	// got[k] signals that client k decoded a timed update of agent k.
	got := make([]chan struct{}, pairs)
	connect := func(id uuid.UUID, agentID *uuid.UUID, k int) *memStream {
		nodeSide, coordSide := newMemStreamPair()
		p := &coordPeer{id: id, agent: agentID == nil}
		if agentID != nil {
			want := *agentID
			p.authorise = func(id uuid.UUID) bool { return id == want }
		}
		serveWG.Add(2)
		go func() {
			defer serveWG.Done()
			_ = coord.serve(ctx, coordSide, p)
		}()
		go func() { // the node
			defer serveWG.Done()
			for {
				var resp proto.CoordinateResponse
				if err := nodeSide.read(ctx, &resp); err != nil {
					return
				}
				for _, u := range resp.PeerUpdates {
					if agentID != nil && u.Kind == proto.PeerNode && !u.Node.AsOf.IsZero() {
						mu.Lock()
						latencies = append(latencies, time.Since(u.Node.AsOf))
						mu.Unlock()
						got[k] <- struct{}{}
					}
				}
			}
		}()
		return nodeSide
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	agents := make([]*memStream, pairs)
	agentIDs := make([]uuid.UUID, pairs)
	for k := range pairs {
		got[k] = make(chan struct{}, 1)
		agentIDs[k] = uuid.New()
		agents[k] = connect(agentIDs[k], nil, k)
		require.NoError(b, agents[k].write(ctx, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(agentIDs[k]))}))
		client := connect(uuid.New(), &agentIDs[k], k)
		tunnel := agentIDs[k]
		require.NoError(b, client.write(ctx, &proto.CoordinateRequest{
			UpdateSelf: fakeNode(RandomClientIP()),
			AddTunnel:  &tunnel,
		}))
	}
	// Every tunnel is up once all peers have nodes and tunnels exist; the
	// initial nodes carry a zero AsOf and are not timed.
	waitPeers(ctx, b, coord, 2*pairs)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	held := func(m *runtime.MemStats) float64 { return float64(m.HeapAlloc + m.StackInuse) }
	bytesPerPair := max(held(&after)-held(&before), 0) / float64(pairs)

	workers := min(pairs, 4)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				if next.Add(1) > int64(b.N) {
					return
				}
				k := (w + j*workers) % pairs
				n := fakeNode(AgentIP(agentIDs[k]))
				n.AsOf = time.Now()
				if err := agents[k].write(ctx, &proto.CoordinateRequest{UpdateSelf: n}); err != nil {
					return
				}
				select {
				case <-got[k]:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	require.NoError(b, ctx.Err(), "node updates did not all arrive")

	mu.Lock()
	defer mu.Unlock()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds())
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(bytesPerPair, "B/pair")
}

func waitPeers(ctx context.Context, b *testing.B, coord *Coordinator, want int) {
	for {
		coord.mu.Lock()
		n := 0
		for _, p := range coord.peers {
			if p.node != nil {
				n++
			}
		}
		tunnels := len(coord.tunnels)
		coord.mu.Unlock()
		if n == want && tunnels == want/2 {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatalf("only %d of %d peers connected", n, want)
		case <-time.After(time.Millisecond):
		}
	}
}

// memStream is one end of an in-memory message stream; messages are JSON
// encoded, as on a websocket.
type memStream struct {
	in        <-chan []byte
	out       chan<- []byte
	closed    chan struct{} // shared by both ends
	closeOnce *sync.Once
}

func newMemStreamPair() (*memStream, *memStream) {
	ab, ba := make(chan []byte, 16), make(chan []byte, 16)
	closed, once := make(chan struct{}), &sync.Once{}
	return &memStream{in: ba, out: ab, closed: closed, closeOnce: once},
		&memStream{in: ab, out: ba, closed: closed, closeOnce: once}
}

var errStreamClosed = errors.New("stream closed")

func (s *memStream) read(ctx context.Context, v any) error {
	select {
	case b := <-s.in:
		return json.Unmarshal(b, v)
	case <-s.closed:
		return errStreamClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *memStream) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	select {
	case s.out <- b:
		return nil
	case <-s.closed:
		return errStreamClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *memStream) close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}
