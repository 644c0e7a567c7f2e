package tailnet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"tailscale.com/tailcfg"

	"github.com/opencoder/coder/tailnet/proto"
)

// testTimeout bounds every test; generous because -race on two cores is slow.
const testTimeout = 90 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t testing.TB) *slog.Logger {
	t.Helper()
	if os.Getenv("TAILNET_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testRelay is an in-process DERP server plus STUN server on loopback.
type testRelay struct {
	t       testing.TB
	mu      sync.Mutex // guards srv and derp (restart vs cleanup)
	srv     *httptest.Server
	derp    io.Closer
	stun    *STUNServer
	derpMap *tailcfg.DERPMap
}

func newTestRelay(t testing.TB) *testRelay {
	t.Helper()
	ctx := testContext(t)
	h, closer := NewDERPHandler(testLogger(t))
	srv := httptest.NewServer(h)
	stun, err := NewSTUNServer(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	dm, err := NewDERPMap(u, []string{stun.Addr().String()}, "", false)
	require.NoError(t, err)
	r := &testRelay{t: t, srv: srv, derp: closer, stun: stun, derpMap: dm}
	t.Cleanup(r.close)
	return r
}

func (r *testRelay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopDERPLocked()
	_ = r.stun.Close()
}

func (r *testRelay) stopDERPLocked() {
	// DERP connections are hijacked: close the relay first so the HTTP
	// server's Close does not wait for them forever.
	_ = r.derp.Close()
	r.srv.Close()
}

// restartDERP stops the DERP server, dropping every relayed connection, and
// starts a fresh one (new server key, no state) on the same address.
func (r *testRelay) restartDERP() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	addr := r.srv.Listener.Addr().String()
	r.stopDERPLocked()
	ln, err := net.Listen("tcp", addr)
	require.NoError(r.t, err)
	h, closer := NewDERPHandler(testLogger(r.t))
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	r.srv, r.derp = srv, closer
}

func newTestConn(t testing.TB, dm *tailcfg.DERPMap, agent bool, block bool) (uuid.UUID, *Conn) {
	t.Helper()
	id := uuid.New()
	addr := RandomClientPrefix()
	if agent {
		addr = AgentPrefix(id)
	}
	c, err := NewConn(&Options{
		ID:                  id,
		Addresses:           []netip.Prefix{addr},
		DERPMap:             dm,
		BlockEndpoints:      block,
		Logger:              testLogger(t).With("node", id.String()[:8]),
		ForwardUnclaimedTCP: agent,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return id, c
}

// linkPeers wires two Conns to each other without a coordinator: each
// one's node callback feeds the other's UpdatePeers.
func linkPeers(t testing.TB, aID uuid.UUID, a *Conn, bID uuid.UUID, b *Conn) {
	t.Helper()
	feed := func(fromID uuid.UUID, to *Conn) func(*proto.Node) {
		return func(n *proto.Node) {
			err := to.UpdatePeers([]proto.PeerUpdate{{ID: fromID, Node: n, Kind: proto.PeerNode}})
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("update peers: %v", err)
			}
		}
	}
	a.SetNodeCallback(feed(aID, b))
	b.SetNodeCallback(feed(bID, a))
}
