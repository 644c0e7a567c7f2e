package servertailnet_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/opencoder/coder/coderd/servertailnet"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// deployment is coderd's tailnet half: DERP and coordination websockets on
// one loopback HTTP server, a STUN server and the in-process coordinator.
type deployment struct {
	t       testing.TB
	url     *url.URL
	coord   *tailnet.Coordinator
	derpMap json.RawMessage
	block   bool
}

func newDeployment(t testing.TB, block bool) *deployment {
	t.Helper()
	ctx := testutil.Context(t, testutil.WaitMedium)
	log := testLogger(t)
	coord := tailnet.NewCoordinator(log)
	coord.SetBlockEndpoints(block)
	derp, derpCloser := tailnet.NewDERPHandler(log)
	mux := http.NewServeMux()
	mux.Handle("/derp", derp)
	mux.Handle("/derp/", derp)
	mux.HandleFunc("/agent/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(r.PathValue("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_ = coord.ServeAgent(r.Context(), ws, id)
	})
	srv := httptest.NewServer(mux)
	stun, err := tailnet.NewSTUNServer(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = coord.Close()
		_ = derpCloser.Close()
		srv.Close()
		_ = stun.Close()
	})
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	m, err := tailnet.NewDERPMap(u, []string{stun.Addr().String()}, "", false)
	require.NoError(t, err)
	raw, err := tailnet.MarshalDERPMap(m)
	require.NoError(t, err)
	return &deployment{t: t, url: u, coord: coord, derpMap: raw, block: block}
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("TAILNET_TEST_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return testutil.Logger(t)
}

func (d *deployment) server(opts servertailnet.Options) *servertailnet.Server {
	d.t.Helper()
	opts.Coordinator = d.coord
	opts.DERPMap = func() json.RawMessage { return d.derpMap }
	opts.BlockEndpoints = d.block
	opts.Logger = testLogger(d.t)
	s, err := servertailnet.New(opts)
	require.NoError(d.t, err)
	d.t.Cleanup(func() { _ = s.Close() })
	return s
}

// fakeAgent is an agent's tailnet node, coordinated over a websocket like
// the real agent's, serving an echo on port 2.
type fakeAgent struct {
	id     uuid.UUID
	tc     *tailnet.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func (d *deployment) startAgent() *fakeAgent {
	d.t.Helper()
	ctx := testutil.Context(d.t, testutil.WaitMedium)
	id := uuid.New()
	m, err := tailnet.ParseDERPMap(d.derpMap)
	require.NoError(d.t, err)
	tc, err := tailnet.NewConn(&tailnet.Options{ID: id, Addresses: []netip.Prefix{tailnet.AgentPrefix(id)}, DERPMap: m,
		BlockEndpoints: d.block, Logger: testLogger(d.t)})
	require.NoError(d.t, err)
	ln, err := tc.Listen("tcp", ":2")
	require.NoError(d.t, err)
	ws, _, err := websocket.Dial(ctx, "ws"+d.url.String()[len("http"):]+"/agent/"+id.String(), nil)
	require.NoError(d.t, err)
	loopCtx, cancel := context.WithCancel(context.Background())
	a := &fakeAgent{id: id, tc: tc, cancel: cancel, done: make(chan struct{})}
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer nc.Close(); _, _ = io.Copy(nc, nc) }()
		}
	}()
	go func() {
		defer close(a.done)
		_ = tailnet.Coordinate(loopCtx, ws, tc, nil)
	}()
	d.t.Cleanup(func() { a.stop(); _ = ln.Close(); <-acceptDone })
	require.Eventually(d.t, func() bool { return d.coord.AgentConnected(id) }, testutil.WaitShort, 10*time.Millisecond)
	return a
}

// stop disconnects the agent and closes its node. Idempotent.
func (a *fakeAgent) stop() {
	a.cancel()
	<-a.done
	_ = a.tc.Close()
}

func echo(t testing.TB, nc net.Conn, msg string) {
	t.Helper()
	_, err := nc.Write([]byte(msg))
	require.NoError(t, err)
	buf := make([]byte, len(msg))
	_, err = io.ReadFull(nc, buf)
	require.NoError(t, err)
	require.Equal(t, msg, string(buf))
}

func TestDialManyAgentsThroughOneNode(t *testing.T) {
	t.Parallel()
	for _, block := range []bool{false, true} {
		name := "direct allowed"
		if block {
			name = "relay only"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, testutil.WaitLong)
			d := newDeployment(t, block)
			s := d.server(servertailnet.Options{})
			a1, a2 := d.startAgent(), d.startAgent()
			for _, a := range []*fakeAgent{a1, a2} {
				nc, err := s.Dial(ctx, a.id, 2)
				require.NoError(t, err)
				echo(t, nc, "hello "+a.id.String())
				require.NoError(t, nc.Close())
			}
			require.Equal(t, 2, s.Agents(), "both tunnels stay warm until idle")
			p, err := s.Ping(ctx, a1.id)
			require.NoError(t, err)
			require.Positive(t, p.Latency)
			if block {
				require.False(t, p.Direct, "relay only: no direct path")
				require.Equal(t, tailnet.EmbeddedRegionID, p.DERPRegionID)
				require.Equal(t, tailnet.EmbeddedRegionName, p.DERPRegionName)
			}
		})
	}
}

func TestDialAgentNotConnected(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	d := newDeployment(t, false)
	s := d.server(servertailnet.Options{})
	_, err := s.Dial(ctx, uuid.New(), 2)
	require.ErrorIs(t, err, servertailnet.ErrAgentNotConnected)
	_, err = s.Ping(ctx, uuid.New())
	require.ErrorIs(t, err, servertailnet.ErrAgentNotConnected)
	require.Equal(t, 0, s.Agents(), "no tunnel for an absent agent")

	// An agent that leaves after being reached.
	a := d.startAgent()
	nc, err := s.Dial(ctx, a.id, 2)
	require.NoError(t, err)
	echo(t, nc, "x")
	a.stop()
	require.Eventually(t, func() bool { return !d.coord.AgentConnected(a.id) }, testutil.WaitShort, 10*time.Millisecond)
	_ = nc.Close()
	_, err = s.Dial(ctx, a.id, 2)
	require.ErrorIs(t, err, servertailnet.ErrAgentNotConnected)
}

// An agent that is coordinated but never answers on the tailnet.
func TestDialAgentUnreachable(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	d := newDeployment(t, false)
	s := d.server(servertailnet.Options{ReachableTimeout: 500 * time.Millisecond})
	id := uuid.New()
	ws, _, err := websocket.Dial(ctx, "ws"+d.url.String()[len("http"):]+"/agent/"+id.String(), nil)
	require.NoError(t, err)
	defer ws.Close(websocket.StatusNormalClosure, "")
	require.Eventually(t, func() bool { return d.coord.AgentConnected(id) }, testutil.WaitShort, 10*time.Millisecond)
	_, err = s.Dial(ctx, id, 2)
	require.ErrorIs(t, err, servertailnet.ErrAgentUnreachable)
}

func TestCloseEndsConnections(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	d := newDeployment(t, false)
	s := d.server(servertailnet.Options{})
	a := d.startAgent()
	nc, err := s.Dial(ctx, a.id, 2)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
	_, err = nc.Read(make([]byte, 1))
	require.Error(t, err)
	_ = nc.Close()
	_, err = s.Dial(ctx, a.id, 2)
	require.Error(t, err)
}

// An agent's tunnel is removed IdleTimeout after its last connection
// closed, and the agent forgotten by the server node; the next Dial adds
// it again.
func TestIdleTunnelRemoved(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	d := newDeployment(t, false)
	s := d.server(servertailnet.Options{IdleTimeout: 100 * time.Millisecond})
	a := d.startAgent()
	nc, err := s.Dial(ctx, a.id, 2)
	require.NoError(t, err)
	echo(t, nc, "one")
	held, err := s.Dial(ctx, a.id, 2)
	require.NoError(t, err)
	require.NoError(t, nc.Close())
	echo(t, held, "still held") // one connection left: the tunnel stays
	require.Equal(t, 1, s.Agents())
	require.NoError(t, held.Close())
	require.Eventually(t, func() bool { return s.Agents() == 0 }, testutil.WaitShort, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(a.tc.Status().Peers) == 0 }, testutil.WaitShort, 10*time.Millisecond,
		"the agent was told to forget the server node")

	nc, err = s.Dial(ctx, a.id, 2)
	require.NoError(t, err)
	echo(t, nc, "again")
	require.NoError(t, nc.Close())
}
