package coordpg

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/tailnet"
)

// TestRealConnsAcrossReplicas: real tailnet nodes, relayed by a real DERP
// server, find each other only through the shared coordinator: the agent
// coordinates through A, the client through B, and the client pings the
// agent and opens a TCP connection to it. Then coderd's own node on B
// (tailnet.NewTunnels, what the web terminal uses) reaches the same agent.
func TestRealConnsAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	a, b := newReplica(t, "a", dbURL), newReplica(t, "b", dbURL)

	derp, derpCloser := tailnet.NewDERPHandler(testLogger(t))
	mux := http.NewServeMux()
	mux.Handle("/derp", derp)
	mux.Handle("/derp/", derp)
	srv := httptest.NewServer(mux)
	stun, err := tailnet.NewSTUNServer(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = derpCloser.Close() // hijacked connections first, so Close returns
		srv.Close()
		_ = stun.Close()
	})
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	derpMap, err := tailnet.NewDERPMap(u, []string{stun.Addr().String()}, "", false)
	require.NoError(t, err)
	newConn := func(id uuid.UUID, addr netip.Prefix) *tailnet.Conn {
		tc, err := tailnet.NewConn(&tailnet.Options{ID: id, Addresses: []netip.Prefix{addr}, DERPMap: derpMap,
			BlockEndpoints: true, Logger: testLogger(t)})
		require.NoError(t, err)
		t.Cleanup(func() { _ = tc.Close() })
		return tc
	}
	// coordinate keeps tc coordinated through r, reconnecting as agents
	// and the CLI do.
	coordinate := func(r *replica, path string, tc *tailnet.Conn, target *uuid.UUID) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for cctx.Err() == nil {
				conn, _, err := websocket.Dial(cctx, r.base+path, nil)
				if err == nil {
					err = tailnet.Coordinate(cctx, conn, tc, target)
				}
				if cctx.Err() != nil {
					return
				}
				t.Logf("%s: coordination through %s ended (%v); reconnecting", path, r.name, err)
				select {
				case <-cctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}

	agentID, clientID := uuid.New(), uuid.New()
	agent := newConn(agentID, tailnet.AgentPrefix(agentID))
	ln, err := agent.Listen("tcp", ":2222")
	require.NoError(t, err)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	coordinate(a, "/agent?id="+agentID.String(), agent, nil)

	client := newConn(clientID, tailnet.RandomClientPrefix())
	coordinate(b, "/client?id="+clientID.String()+"&agent="+agentID.String(), client, &agentID)

	agentIP := tailnet.AgentIP(agentID)
	require.True(t, client.AwaitReachable(ctx, agentIP), "the client on B never reached the agent on A")
	echo := func(tc *tailnet.Conn) {
		t.Helper()
		nc, err := tc.DialContextTCP(ctx, netip.AddrPortFrom(agentIP, 2222))
		require.NoError(t, err)
		defer nc.Close()
		msg := []byte("across replicas")
		_, err = nc.Write(msg)
		require.NoError(t, err)
		got := make([]byte, len(msg))
		_, err = io.ReadFull(nc, got)
		require.NoError(t, err)
		require.Equal(t, msg, got)
	}
	echo(client)

	// coderd's node on B, coordinated in process.
	require.True(t, b.core.AgentConnected(agentID))
	serverNode := newConn(uuid.New(), tailnet.RandomClientPrefix())
	tun := tailnet.NewTunnels(b.core, serverNode, testLogger(t))
	t.Cleanup(func() { _ = tun.Close() })
	tun.AddTunnel(agentID)
	require.True(t, serverNode.AwaitReachable(ctx, agentIP), "coderd's node on B never reached the agent on A")
	echo(serverNode)
}
