package tailnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// echoServe echoes every connection accepted on ln until it is closed.
func echoServe(t testing.TB, ln net.Listener) {
	t.Helper()
	serveConns(t, ln, func(nc net.Conn) { _, _ = io.Copy(nc, nc) })
}

// serveConns runs handle on every connection accepted on ln, each in its
// own goroutine that closes the connection after, until ln is closed at
// the end of the test.
func serveConns(t testing.TB, ln net.Listener, handle func(net.Conn)) {
	t.Helper()
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				handle(nc)
			}()
		}
	}()
}

// roundTrip sends size random bytes through an echo connection and checks
// they come back intact.
func roundTrip(ctx context.Context, t testing.TB, c *Conn, dst netip.AddrPort, size int) {
	t.Helper()
	nc, err := c.DialContextTCP(ctx, dst)
	require.NoError(t, err)
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	want := make([]byte, size)
	_, _ = rand.Read(want)
	errc := make(chan error, 1)
	go func() {
		_, err := nc.Write(want)
		errc <- err
	}()
	got := make([]byte, size)
	_, err = io.ReadFull(nc, got)
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.True(t, bytes.Equal(want, got), "echoed data differs")
}

// waitPath polls the client's view of the peer until its path is direct
// (or relayed), bounded by ctx. Traffic keeps flowing meanwhile so
// magicsock has a reason to probe.
func waitPath(ctx context.Context, t testing.TB, c *Conn, peer uuid.UUID, dst netip.AddrPort, direct bool) PeerStatus {
	t.Helper()
	for {
		ps, ok := c.PeerStatus(peer)
		require.True(t, ok, "peer not configured")
		if ps.Direct == direct && (direct || ps.DERPRegion != 0) {
			return ps
		}
		roundTrip(ctx, t, c, dst, 1024)
		select {
		case <-ctx.Done():
			t.Fatalf("peer path never became direct=%v: %+v", direct, ps)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func TestConnRelayOnly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	// Both sides block endpoints, as a deployment with direct connections
	// disabled would.
	p := newEchoPair(ctx, t, Options{DERPMap: relay.derpMap, BlockEndpoints: true})
	agentID, client, dst := p.agentID, p.client, p.dst

	require.Empty(t, client.Node().Endpoints, "blocked node advertises endpoints")
	roundTrip(ctx, t, client, dst, 1<<20)

	ps := waitPath(ctx, t, client, agentID, dst, false)
	require.Equal(t, EmbeddedRegionID, ps.DERPRegion)
	require.Empty(t, ps.Endpoint)

	_, direct, region, err := client.Ping(ctx, dst.Addr())
	require.NoError(t, err)
	require.False(t, direct)
	require.Equal(t, EmbeddedRegionID, region)
	// Many more round trips still never leave DERP.
	for range 5 {
		roundTrip(ctx, t, client, dst, 64<<10)
	}
	ps, ok := client.PeerStatus(agentID)
	require.True(t, ok)
	require.False(t, ps.Direct, "relay-only path went direct: %+v", ps)
}

func TestConnDirect(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	p := newEchoPair(ctx, t, Options{DERPMap: relay.derpMap})
	agentID, client, dst := p.agentID, p.client, p.dst

	roundTrip(ctx, t, client, dst, 1<<20)
	ps := waitPath(ctx, t, client, agentID, dst, true)
	require.NotEmpty(t, ps.Endpoint)

	for {
		_, direct, _, err := client.Ping(ctx, dst.Addr())
		require.NoError(t, err)
		if direct {
			break
		}
	}
	roundTrip(ctx, t, client, dst, 1<<20)
}

func TestConnDERPRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	p := newEchoPair(ctx, t, Options{DERPMap: relay.derpMap, BlockEndpoints: true})
	agentID, client, dst := p.agentID, p.client, p.dst

	// A connection open across the restart.
	nc, err := client.DialContextTCP(ctx, dst)
	require.NoError(t, err)
	defer nc.Close()
	dl, _ := ctx.Deadline()
	require.NoError(t, nc.SetDeadline(dl))
	echo := func(msg string) {
		t.Helper()
		_, err := nc.Write([]byte(msg))
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(nc, got)
		require.NoError(t, err)
		require.Equal(t, msg, string(got))
	}
	echo("before restart")

	relay.restartDERP()

	// The open connection recovers (TCP retransmits once both nodes have
	// reconnected to the relay) and new connections work.
	echo("after restart")
	require.True(t, client.AwaitReachable(ctx, dst.Addr()))
	roundTrip(ctx, t, client, dst, 256<<10)
	ps, ok := client.PeerStatus(agentID)
	require.True(t, ok)
	require.False(t, ps.Direct)
}

func TestConnRefusesUnclaimedPorts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	agentID, agent := newTestConn(t, relay.derpMap, true, false)
	clientID, client := newTestConn(t, relay.derpMap, false, false)
	linkPeers(t, agentID, agent, clientID, client)
	require.True(t, client.AwaitReachable(ctx, AgentIP(agentID)))

	// A service on the host's loopback, reachable through the agent's port
	// forwarding but never through a client node.
	hostLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	echoServe(t, hostLn)
	port := uint16(hostLn.Addr().(*net.TCPAddr).Port)

	// The agent forwards an unclaimed port to 127.0.0.1.
	roundTrip(ctx, t, client, netip.AddrPortFrom(AgentIP(agentID), port), 4096)

	// The client refuses the same flow in the other direction.
	clientIP := client.Addresses()[0].Addr()
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := agent.DialContextTCP(dialCtx, netip.AddrPortFrom(clientIP, port))
	if err == nil {
		nc.Close()
		t.Fatal("client node accepted a connection to an unclaimed port")
	}
	require.NotErrorIs(t, err, context.DeadlineExceeded, "refusal should be an RST, not a timeout")
}
