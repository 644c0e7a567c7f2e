package coordpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/tailnet/proto"
	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) { os.Exit(dbtestutil.MainCheckLeaks(m)) }

// testInterval is the heartbeat of test coordinators (dead after 3):
// short, yet long enough that a loaded machine running -race does not
// miss heartbeats and suspend a healthy coordinator.
const testInterval = 2 * time.Second

func testContext(t testing.TB) context.Context {
	t.Helper()
	return testutil.Context(t, testutil.WaitMedium)
}

// testLogger discards unless COORDPG_TEST_DEBUG is set.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("COORDPG_TEST_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return testutil.Logger(t).With("test", t.Name())
}

// coordLogger logs warnings and errors of the coordinators to the test
// (a suspension under load explains many a failure); the rest with
// COORDPG_TEST_DEBUG.
func coordLogger(t testing.TB) *slog.Logger {
	if os.Getenv("COORDPG_TEST_DEBUG") != "" {
		return testutil.Logger(t).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(testutil.Writer(t), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// replica is one coderd's coordination: its own pool and pubsub on the
// shared database, the core, the shared layer, and a websocket server
// serving agents (/agent?id=A) and clients (/client?id=C&agent=A) as coderd
// does after authorizing them.
type replica struct {
	t      testing.TB
	name   string
	store  *database.Store
	ps     *pubsub.Pubsub
	core   *tailnet.Coordinator
	shared *Coordinator
	base   string // ws://...
}

// newReplica starts a replica on the database at dbURL (through a proxy
// when the test wants to cut it).
func newReplica(t testing.TB, name, dbURL string) *replica {
	return startReplica(t, name, dbURL, true)
}

// startReplica is newReplica; with share false the core runs alone, as
// a single coderd did before the shared coordinator (benchmarks compare).
func startReplica(t testing.TB, name, dbURL string, share bool) *replica {
	t.Helper()
	ctx := testContext(t)
	log := coordLogger(t).With("replica", name)
	store, err := database.Open(ctx, dbURL)
	require.NoError(t, err)
	ps, err := pubsub.New(ctx, store.Pool(), log)
	require.NoError(t, err)
	core := tailnet.NewCoordinator(log)
	r := &replica{t: t, name: name, store: store, ps: ps, core: core}
	if share {
		r.shared, err = New(ctx, Options{Core: core, Store: store, Pubsub: ps, Logger: log, HeartbeatInterval: testInterval})
		require.NoError(t, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(func() {
		if r.shared != nil {
			_ = r.shared.Close()
		}
		_ = core.Close() // ends the Serve calls, so srv.Close can return
		srv.Close()
		_ = ps.Close()
		store.Close()
	})
	r.base = "ws" + strings.TrimPrefix(srv.URL, "http")
	return r
}

func (r *replica) serveHTTP(w http.ResponseWriter, req *http.Request) {
	id, err := uuid.Parse(req.URL.Query().Get("id"))
	if err != nil {
		http.Error(w, "bad id", http.StatusBadRequest)
		return
	}
	agentID, _ := uuid.Parse(req.URL.Query().Get("agent"))
	conn, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	if req.URL.Path == "/agent" {
		_ = r.core.ServeAgent(req.Context(), conn, id)
	} else {
		_ = r.core.ServeClient(req.Context(), conn, id, agentID)
	}
}

// peer is a node's coordination websocket without an engine.
type peer struct {
	t    testing.TB
	id   uuid.UUID
	conn *websocket.Conn
}

func (r *replica) dial(ctx context.Context, path string, id uuid.UUID) *peer {
	r.t.Helper()
	conn, _, err := websocket.Dial(ctx, r.base+path, nil)
	require.NoError(r.t, err)
	r.t.Cleanup(func() { _ = conn.CloseNow() })
	return &peer{t: r.t, id: id, conn: conn}
}

func (r *replica) agent(ctx context.Context, id uuid.UUID) *peer {
	return r.dial(ctx, "/agent?id="+id.String(), id)
}

func (r *replica) client(ctx context.Context, agent uuid.UUID) *peer {
	id := uuid.New()
	return r.dial(ctx, "/client?id="+id.String()+"&agent="+agent.String(), id)
}

func (p *peer) send(ctx context.Context, req *proto.CoordinateRequest) {
	p.t.Helper()
	require.NoError(p.t, wsjson.Write(ctx, p.conn, req))
}

// update reads until a peer update arrives; coordinator errors fail.
func (p *peer) update(ctx context.Context) proto.PeerUpdate {
	p.t.Helper()
	for {
		var resp proto.CoordinateResponse
		require.NoError(p.t, wsjson.Read(ctx, p.conn, &resp))
		require.Empty(p.t, resp.Error)
		if len(resp.PeerUpdates) > 0 {
			require.Len(p.t, resp.PeerUpdates, 1)
			return resp.PeerUpdates[0]
		}
	}
}

// expectNode reads the next update and requires it to be node n of id.
func (p *peer) expectNode(ctx context.Context, id uuid.UUID, n *proto.Node) {
	p.t.Helper()
	u := p.update(ctx)
	require.Equal(p.t, id, u.ID)
	require.Equal(p.t, proto.PeerNode, u.Kind, "reason: %s", u.Reason)
	require.Equal(p.t, n.Key, u.Node.Key)
}

func (p *peer) expectKind(ctx context.Context, id uuid.UUID, kind proto.PeerUpdateKind) {
	p.t.Helper()
	u := p.update(ctx)
	require.Equal(p.t, id, u.ID)
	require.Equal(p.t, kind, u.Kind, "reason: %s", u.Reason)
}

// expectClosed requires the coordinator to end the connection.
func (p *peer) expectClosed(ctx context.Context) {
	p.t.Helper()
	for {
		var resp proto.CoordinateResponse
		if err := wsjson.Read(ctx, p.conn, &resp); err != nil {
			require.NoError(p.t, ctx.Err(), "the coordinator did not close the connection")
			return
		}
	}
}

// fakeNode is a well-formed node for a peer that runs no engine.
func fakeNode(addr netip.Addr) *proto.Node {
	return &proto.Node{
		Key:           "nodekey:" + randHex(32),
		DiscoKey:      "discokey:" + randHex(32),
		PreferredDERP: tailnet.EmbeddedRegionID,
		Addresses:     []netip.Prefix{netip.PrefixFrom(addr, 128)},
		AllowedIPs:    []netip.Prefix{netip.PrefixFrom(addr, 128)},
		Endpoints:     []string{"127.0.0.1:41641"},
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// agentNode and clientNode publish a fresh node and return it.
func (p *peer) publishAgent(ctx context.Context) *proto.Node {
	n := fakeNode(tailnet.AgentIP(p.id))
	p.send(ctx, &proto.CoordinateRequest{UpdateSelf: n})
	return n
}

func (p *peer) publishClient(ctx context.Context, addr netip.Addr) *proto.Node {
	n := fakeNode(addr)
	p.send(ctx, &proto.CoordinateRequest{UpdateSelf: n})
	return n
}

// eventually polls cond until it holds or ctx ends.
func eventually(ctx context.Context, t testing.TB, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting: %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
