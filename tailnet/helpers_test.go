package tailnet

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"tailscale.com/tailcfg"

	"github.com/opencoder/coder/tailnet/proto"
	"github.com/opencoder/coder/testutil"
)

// testContext bounds every test; generous because -race on two cores is
// slow.
func testContext(t testing.TB) context.Context {
	t.Helper()
	return testutil.Context(t, testutil.WaitMedium)
}

// testLogger discards: upstream's debug chatter would swamp test output
// and slow the benchmarks. Set TAILNET_TEST_DEBUG=1 to log to the test.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("TAILNET_TEST_DEBUG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return testutil.Logger(t).With("test", t.Name())
}

// testRelay is an in-process DERP server plus STUN server on loopback.
type testRelay struct {
	t       testing.TB
	wrap    func(http.Handler) http.Handler // set at construction; may be nil
	mu      sync.Mutex                      // guards srv and derp (restart vs cleanup)
	srv     *httptest.Server
	derp    io.Closer
	stun    *STUNServer
	derpMap *tailcfg.DERPMap
}

func newTestRelay(t testing.TB) *testRelay { return newWrappedTestRelay(t, nil) }

// newWrappedTestRelay is newTestRelay with wrap (if not nil) in front of
// the DERP handler, to watch the requests nodes make.
func newWrappedTestRelay(t testing.TB, wrap func(http.Handler) http.Handler) *testRelay {
	t.Helper()
	ctx := testContext(t)
	r := &testRelay{t: t, wrap: wrap}
	r.srv, r.derp = r.startDERP(nil)
	stun, err := NewSTUNServer(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	r.stun = stun
	t.Cleanup(r.close)
	u, err := url.Parse(r.srv.URL)
	require.NoError(t, err)
	r.derpMap, err = NewDERPMap(u, []string{stun.Addr().String()}, "", false)
	require.NoError(t, err)
	return r
}

// startDERP serves a fresh DERP handler on ln (a new loopback port if nil).
func (r *testRelay) startDERP(ln net.Listener) (*httptest.Server, io.Closer) {
	var h http.Handler
	h, closer := NewDERPHandler(testLogger(r.t))
	if r.wrap != nil {
		h = r.wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	if ln != nil {
		srv.Listener = ln
	}
	srv.Start()
	return srv, closer
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
	r.srv, r.derp = r.startDERP(ln)
}

func newTestConn(t testing.TB, dm *tailcfg.DERPMap, agent bool, block bool) (uuid.UUID, *Conn) {
	t.Helper()
	return newTestConnOpts(t, Options{DERPMap: dm, BlockEndpoints: block}, agent)
}

// newTestConnOpts starts a node from opts, filling in its ID, address,
// logger and (for an agent) port forwarding.
func newTestConnOpts(t testing.TB, opts Options, agent bool) (uuid.UUID, *Conn) {
	t.Helper()
	id := uuid.New()
	addr := RandomClientPrefix()
	if agent {
		addr = AgentPrefix(id)
	}
	opts.ID = id
	opts.Addresses = []netip.Prefix{addr}
	opts.Logger = testLogger(t).With("node", id.String()[:8])
	opts.ForwardUnclaimedTCP = agent
	c, err := NewConn(&opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return id, c
}

// echoPair is an agent node echoing on port 4444 and a client node that
// reaches it, the two linked without a coordinator.
type echoPair struct {
	agentID, clientID uuid.UUID
	agent, client     *Conn
	dst               netip.AddrPort // the agent's echo service
}

// newEchoPair starts the pair with opts (DERPMap, BlockEndpoints, ...) and
// waits until the client reaches the agent.
func newEchoPair(ctx context.Context, t testing.TB, opts Options) echoPair {
	t.Helper()
	var p echoPair
	p.agentID, p.agent = newTestConnOpts(t, opts, true)
	p.clientID, p.client = newTestConnOpts(t, opts, false)
	linkPeers(t, p.agentID, p.agent, p.clientID, p.client)
	ln, err := p.agent.Listen("tcp", ":4444")
	require.NoError(t, err)
	echoServe(t, ln)
	p.dst = netip.AddrPortFrom(AgentIP(p.agentID), 4444)
	require.True(t, p.client.AwaitReachable(ctx, p.dst.Addr()))
	return p
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

// runInChild re-runs test name in a child test binary with childEnv=1 set
// (and attr, if not nil), for tests that flip process-wide state or need
// their own namespace; the child's own run of the test sees childEnv and
// does the work. It fails t if the child failed or did not run the test.
func runInChild(t *testing.T, name, childEnv string, attr *syscall.SysProcAttr) {
	t.Helper()
	cmd := exec.CommandContext(testContext(t), os.Args[0], "-test.run=^"+name+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.SysProcAttr = attr
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "child test failed:\n%s", out)
	require.Contains(t, string(out), "--- PASS: "+name, "child test did not run:\n%s", out)
	t.Logf("child test output:\n%s", out)
}
