package coordpg

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/tailnet/proto"
)

// BenchmarkCrossReplicaUpdate measures a node update's trip across
// replicas: N agents coordinate through replica A, each with a client
// through replica B, over real websockets and one PostgreSQL. Each op
// publishes a new node for one agent and waits until its client on B has
// it (A writes the row and NOTIFYs, B reads the row and delivers); four
// workers run ops concurrently, each on its own agents. Reported: p50 and p99
// of that latency in milliseconds (issue 12 aims for p99 < 200 ms at
// 2,000 agents). With -short (the CI smoke) only the smallest size runs.
func BenchmarkCrossReplicaUpdate(b *testing.B) {
	sizes := []int{10, 100, 2000}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, pairs := range sizes {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			dbURL := dbtestutil.NewDB(b)
			benchUpdates(b, pairs, newReplica(b, "a", dbURL), newReplica(b, "b", dbURL))
		})
	}
}

// BenchmarkSameReplicaUpdate is the same with agents and clients on one
// replica, with the shared layer attached ("shared") and without it
// ("alone", the core as a single coderd ran it before): the in-process
// path must stay as fast.
func BenchmarkSameReplicaUpdate(b *testing.B) {
	for _, share := range []bool{true, false} {
		name := map[bool]string{true: "shared", false: "alone"}[share]
		b.Run(name, func(b *testing.B) {
			r := startReplica(b, "a", dbtestutil.NewDB(b), share)
			benchUpdates(b, 100, r, r)
		})
	}
}

// benchUpdates times node updates from N agents on ra to their clients on
// rb.
func benchUpdates(b *testing.B, pairs int, ra, rb *replica) {
	ctx := testContext(b)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		readers   sync.WaitGroup
	)
	got := make([]chan struct{}, pairs)
	agents := make([]*peer, pairs)
	agentIDs := make([]uuid.UUID, pairs)
	for k := range pairs {
		got[k] = make(chan struct{}, 1)
		agentIDs[k] = uuid.New()
		agents[k] = ra.agent(ctx, agentIDs[k])
		agents[k].publishAgent(ctx)
		client := rb.client(ctx, agentIDs[k])
		client.publishClient(ctx, tailnet.RandomClientIP())
		client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentIDs[k]})
		client.update(ctx) // the agent's first node: the tunnel is up
		readers.Add(2)
		go func() { // the client: times the agent's updates
			defer readers.Done()
			for {
				var resp proto.CoordinateResponse
				if err := wsjson.Read(ctx, client.conn, &resp); err != nil {
					return
				}
				for _, u := range resp.PeerUpdates {
					if u.Kind == proto.PeerNode && !u.Node.AsOf.IsZero() {
						mu.Lock()
						latencies = append(latencies, time.Since(u.Node.AsOf))
						mu.Unlock()
						got[k] <- struct{}{}
					}
				}
			}
		}()
		go func() { // the agent: drains the client's node
			defer readers.Done()
			for {
				var resp proto.CoordinateResponse
				if err := wsjson.Read(ctx, agents[k].conn, &resp); err != nil {
					return
				}
			}
		}()
	}
	b.Cleanup(func() {
		for _, a := range agents {
			_ = a.conn.CloseNow()
		}
		_ = ra.core.Close()
		_ = rb.core.Close() // ends the clients' connections (idempotent)
		readers.Wait()
	})

	workers := min(pairs, 4)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Worker w owns the agents k ≡ w (mod workers): two updates
			// of one agent in flight could be coalesced into one
			// delivery (the latest node wins), leaving a waiter behind.
			var mine []int
			for k := w; k < pairs; k += workers {
				mine = append(mine, k)
			}
			for j := 0; ; j++ {
				if next.Add(1) > int64(b.N) {
					return
				}
				k := mine[j%len(mine)]
				n := fakeNode(tailnet.AgentIP(agentIDs[k]))
				n.AsOf = time.Now()
				if err := wsjson.Write(ctx, agents[k].conn, &proto.CoordinateRequest{UpdateSelf: n}); err != nil {
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
		return float64(latencies[int(float64(len(latencies)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
