package servertailnet_test

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/servertailnet"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/testutil"
)

// benchAgents is how many agents BenchmarkMemoryPerAgent proxies to.
const benchAgents = 32

// memory is the process's live heap after a full collection, and its
// resident set size (0 where /proc is missing).
func memory() (heap, rss uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				rss = kb << 10
			}
		}
	}
	return ms.HeapAlloc, rss
}

func perAgentMB(before, after uint64, n int) float64 {
	if after < before {
		return 0
	}
	return float64(after-before) / float64(n) / (1 << 20)
}

// BenchmarkMemoryPerAgent measures what coderd pays per proxied agent
// connection: benchAgents agents each get one open connection through the
// one server node, and the growth of the heap (and RSS) from before the
// first of them to after the last, divided by their number, is reported.
// The agents' own nodes exist before the first measurement; what they add
// per connection (their side of the WireGuard session and TCP endpoint) is
// included, so the figure is an upper bound. For contrast, "conn-MB" is
// the heap of one more tailnet.Conn: what a design with a node per agent
// connection (the incumbent's) pays for each. Each iteration is one echo
// round trip through a connection. Figures only; nothing is asserted.
//
//	go test ./coderd/servertailnet -run '^$' -bench MemoryPerAgent
func BenchmarkMemoryPerAgent(b *testing.B) {
	ctx := testutil.Context(b, testutil.WaitLong)
	d := newDeployment(b, false)
	s := d.server(servertailnet.Options{})
	agents := make([]*fakeAgent, benchAgents+1)
	for i := range agents {
		agents[i] = d.startAgent()
	}
	// The server node's fixed cost (engine, DERP home) is paid by a first
	// agent, before measuring.
	warm, err := s.Dial(ctx, agents[0].id, 2)
	require.NoError(b, err)
	defer warm.Close()
	echo(b, warm, "warm")

	heap0, rss0 := memory()
	conns := make([]net.Conn, 0, benchAgents)
	for _, a := range agents[1:] {
		nc, err := s.Dial(ctx, a.id, 2)
		require.NoError(b, err)
		echo(b, nc, "hello")
		conns = append(conns, nc)
	}
	heap1, rss1 := memory()
	defer func() {
		for _, nc := range conns {
			_ = nc.Close()
		}
	}()

	// One more node, as a design with a node per connection would build.
	heap2, _ := memory()
	extra, err := tailnet.NewConn(&tailnet.Options{ID: uuid.New(), Addresses: []netip.Prefix{tailnet.RandomClientPrefix()}})
	require.NoError(b, err)
	heap3, _ := memory()
	_ = extra.Close()

	msg := "k"
	i := 0
	for b.Loop() {
		echo(b, conns[i%len(conns)], msg)
		i++
	}
	b.ReportMetric(perAgentMB(heap0, heap1, benchAgents), "heap-MB/agent")
	b.ReportMetric(perAgentMB(rss0, rss1, benchAgents), "rss-MB/agent")
	b.ReportMetric(perAgentMB(heap2, heap3, 1), "conn-MB")
	b.ReportMetric(float64(s.Agents()), "agents")
}
