package tailnet

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"tailscale.com/types/key"

	"github.com/opencoder/coder/tailnet/proto"
)

// coordServer serves a Coordinator over websockets the way coderd would:
// /agent?id=A for agents and /client?id=C&agent=A for clients (here every
// client is authorised for the agent it names).
func coordServer(t testing.TB, coord *Coordinator) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := uuid.Parse(r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		var agentID uuid.UUID
		if r.URL.Path == "/client" {
			agentID, err = uuid.Parse(r.URL.Query().Get("agent"))
			if err != nil {
				http.Error(w, "bad agent", http.StatusBadRequest)
				return
			}
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		if r.URL.Path == "/agent" {
			_ = coord.ServeAgent(r.Context(), conn, id)
		} else {
			_ = coord.ServeClient(r.Context(), conn, id, agentID)
		}
	}))
	t.Cleanup(func() {
		_ = coord.Close() // ends the Serve calls, so srv.Close can return
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialCoord(ctx context.Context, t testing.TB, base, path string) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, base+path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// fakeNode is a well-formed node for a peer that runs no engine.
func fakeNode(addr netip.Addr) *proto.Node {
	return &proto.Node{
		Key:           key.NewNode().Public().String(),
		DiscoKey:      key.NewDisco().Public().String(),
		PreferredDERP: EmbeddedRegionID,
		Addresses:     []netip.Prefix{netip.PrefixFrom(addr, 128)},
		AllowedIPs:    []netip.Prefix{netip.PrefixFrom(addr, 128)},
		Endpoints:     []string{"127.0.0.1:41641"},
	}
}

func send(ctx context.Context, t testing.TB, conn *websocket.Conn, req *proto.CoordinateRequest) {
	t.Helper()
	require.NoError(t, wsjson.Write(ctx, conn, req))
}

func recv(ctx context.Context, t testing.TB, conn *websocket.Conn) *proto.CoordinateResponse {
	t.Helper()
	var resp proto.CoordinateResponse
	require.NoError(t, wsjson.Read(ctx, conn, &resp))
	return &resp
}

// recvUpdate reads until a peer update arrives.
func recvUpdate(ctx context.Context, t testing.TB, conn *websocket.Conn) proto.PeerUpdate {
	t.Helper()
	for {
		resp := recv(ctx, t, conn)
		require.Empty(t, resp.Error)
		if len(resp.PeerUpdates) > 0 {
			require.Len(t, resp.PeerUpdates, 1)
			return resp.PeerUpdates[0]
		}
	}
}

func TestCoordinatorRefusesUnauthorisedTunnels(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	base := coordServer(t, NewCoordinator(testLogger(t)))
	agentID, otherAgent, clientID := uuid.New(), uuid.New(), uuid.New()

	// Another agent is connected, with a node worth stealing.
	other := dialCoord(ctx, t, base, "/agent?id="+otherAgent.String())
	send(ctx, t, other, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(otherAgent))})

	client := dialCoord(ctx, t, base, "/client?id="+clientID.String()+"&agent="+agentID.String())
	send(ctx, t, client, &proto.CoordinateRequest{UpdateSelf: fakeNode(RandomClientIP()), AddTunnel: &otherAgent})
	resp := recv(ctx, t, client)
	require.Equal(t, proto.ErrorNotAuthorised, resp.ErrorCode)
	require.Contains(t, resp.Error, "not authorised")
	require.Empty(t, resp.PeerUpdates)

	// The connection survives the refusal; the authorised tunnel works.
	agent := dialCoord(ctx, t, base, "/agent?id="+agentID.String())
	send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(agentID))})
	send(ctx, t, client, &proto.CoordinateRequest{AddTunnel: &agentID})
	u := recvUpdate(ctx, t, client)
	require.Equal(t, agentID, u.ID)
	require.Equal(t, proto.PeerNode, u.Kind)

	// Agents may not open tunnels at all.
	send(ctx, t, agent, &proto.CoordinateRequest{AddTunnel: &otherAgent})
	for {
		resp := recv(ctx, t, agent)
		if resp.Error != "" {
			require.Equal(t, proto.ErrorNotAuthorised, resp.ErrorCode)
			break
		}
	}
}

func TestCoordinatorRefusesForeignAddresses(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	base := coordServer(t, NewCoordinator(testLogger(t)))
	agentID, clientID := uuid.New(), uuid.New()

	tests := []struct {
		name string
		addr netip.Addr
	}{
		{"agent address", AgentIP(agentID)},
		{"outside the tailnet", netip.MustParseAddr("fd00::1")},
	}
	client := dialCoord(ctx, t, base, "/client?id="+clientID.String()+"&agent="+agentID.String())
	for _, tc := range tests {
		send(ctx, t, client, &proto.CoordinateRequest{UpdateSelf: fakeNode(tc.addr)})
		resp := recv(ctx, t, client)
		require.Equal(t, proto.ErrorInvalidRequest, resp.ErrorCode, tc.name)
	}
	agent := dialCoord(ctx, t, base, "/agent?id="+agentID.String())
	send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: fakeNode(RandomClientIP())})
	resp := recv(ctx, t, agent)
	require.Equal(t, proto.ErrorInvalidRequest, resp.ErrorCode)
}

func TestCoordinatorNotifiesPeerDeparture(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	coord := NewCoordinator(testLogger(t))
	base := coordServer(t, coord)
	agentID := uuid.New()

	agent := dialCoord(ctx, t, base, "/agent?id="+agentID.String())
	agentNode := fakeNode(AgentIP(agentID))
	send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: agentNode})

	connectClient := func() (uuid.UUID, *websocket.Conn) {
		id := uuid.New()
		c := dialCoord(ctx, t, base, "/client?id="+id.String()+"&agent="+agentID.String())
		send(ctx, t, c, &proto.CoordinateRequest{UpdateSelf: fakeNode(RandomClientIP()), AddTunnel: &agentID})
		u := recvUpdate(ctx, t, c)
		require.Equal(t, agentID, u.ID)
		require.Equal(t, agentNode.Key, u.Node.Key)
		u = recvUpdate(ctx, t, agent)
		require.Equal(t, id, u.ID)
		require.Equal(t, proto.PeerNode, u.Kind)
		return id, c
	}

	t.Run("graceful", func(t *testing.T) {
		id, c := connectClient()
		send(ctx, t, c, &proto.CoordinateRequest{Disconnect: true})
		u := recvUpdate(ctx, t, agent)
		require.Equal(t, id, u.ID)
		require.Equal(t, proto.PeerDisconnected, u.Kind)
	})
	t.Run("lost", func(t *testing.T) {
		id, c := connectClient()
		require.NoError(t, c.CloseNow())
		u := recvUpdate(ctx, t, agent)
		require.Equal(t, id, u.ID)
		require.Equal(t, proto.PeerLost, u.Kind)
	})
	t.Run("remove tunnel", func(t *testing.T) {
		id, c := connectClient()
		send(ctx, t, c, &proto.CoordinateRequest{RemoveTunnel: &agentID})
		u := recvUpdate(ctx, t, c)
		require.Equal(t, agentID, u.ID)
		require.Equal(t, proto.PeerDisconnected, u.Kind)
		u = recvUpdate(ctx, t, agent)
		require.Equal(t, id, u.ID)
		require.Equal(t, proto.PeerDisconnected, u.Kind)
	})
	t.Run("agent lost and back", func(t *testing.T) {
		_, c := connectClient()
		require.NoError(t, agent.CloseNow())
		u := recvUpdate(ctx, t, c)
		require.Equal(t, agentID, u.ID)
		require.Equal(t, proto.PeerLost, u.Kind)

		// The client's tunnel survives: the returning agent's node
		// reaches it without a new AddTunnel.
		agent = dialCoord(ctx, t, base, "/agent?id="+agentID.String())
		newNode := fakeNode(AgentIP(agentID))
		send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: newNode})
		u = recvUpdate(ctx, t, c)
		require.Equal(t, proto.PeerNode, u.Kind)
		require.Equal(t, newNode.Key, u.Node.Key)
		// And the returning agent gets the client's node: it cannot
		// answer a client it does not know.
		u = recvUpdate(ctx, t, agent)
		require.Equal(t, proto.PeerNode, u.Kind)
	})
	t.Run("client before agent", func(t *testing.T) {
		// A client that opens its tunnel while the agent is away (coderd
		// restarted, and the agent has not reconnected yet) is known to
		// the agent as soon as the agent is back.
		_ = agent.CloseNow() // already closed by the subtest before's cleanup
		for coord.AgentConnected(agentID) {
			require.NoError(t, ctx.Err())
			time.Sleep(10 * time.Millisecond)
		}
		id := uuid.New()
		c := dialCoord(ctx, t, base, "/client?id="+id.String()+"&agent="+agentID.String())
		clientNode := fakeNode(RandomClientIP())
		send(ctx, t, c, &proto.CoordinateRequest{UpdateSelf: clientNode, AddTunnel: &agentID})

		agent = dialCoord(ctx, t, base, "/agent?id="+agentID.String())
		newNode := fakeNode(AgentIP(agentID))
		send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: newNode})
		u := recvUpdate(ctx, t, agent)
		for u.ID != id {
			u = recvUpdate(ctx, t, agent) // the subtest before's client, leaving
		}
		require.Equal(t, proto.PeerNode, u.Kind)
		require.Equal(t, clientNode.Key, u.Node.Key)
		u = recvUpdate(ctx, t, c)
		require.Equal(t, proto.PeerNode, u.Kind)
		require.Equal(t, newNode.Key, u.Node.Key)
	})
}

func TestCoordinatorBlockEndpoints(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	coord := NewCoordinator(testLogger(t))
	coord.SetBlockEndpoints(true)
	base := coordServer(t, coord)
	agentID, clientID := uuid.New(), uuid.New()

	agent := dialCoord(ctx, t, base, "/agent?id="+agentID.String())
	send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(agentID))})
	client := dialCoord(ctx, t, base, "/client?id="+clientID.String()+"&agent="+agentID.String())
	send(ctx, t, client, &proto.CoordinateRequest{UpdateSelf: fakeNode(RandomClientIP()), AddTunnel: &agentID})
	require.Empty(t, recvUpdate(ctx, t, client).Node.Endpoints)
	require.Empty(t, recvUpdate(ctx, t, agent).Node.Endpoints)
}

// TestCoordinateConns runs two real nodes that find each other only through
// the coordinator, as an agent and a CLI client do.
func TestCoordinateConns(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	base := coordServer(t, NewCoordinator(testLogger(t)))
	agentID, agent := newTestConn(t, relay.derpMap, true, false)
	clientID, client := newTestConn(t, relay.derpMap, false, false)

	runCoordinate := func(tc *Conn, path string, target *uuid.UUID) {
		conn := dialCoord(ctx, t, base, path)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- Coordinate(cctx, conn, tc, target) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
	}
	runCoordinate(agent, "/agent?id="+agentID.String(), nil)
	runCoordinate(client, "/client?id="+clientID.String()+"&agent="+agentID.String(), &agentID)

	ln, err := agent.Listen("tcp", ":2222")
	require.NoError(t, err)
	echoServe(t, ln)
	dst := netip.AddrPortFrom(AgentIP(agentID), 2222)
	require.True(t, client.AwaitReachable(ctx, dst.Addr()))
	roundTrip(ctx, t, client, dst, 256<<10)
}

// TestCoordinateNotAuthorised: Coordinate surfaces the refusal as
// ErrNotAuthorised.
func TestCoordinateNotAuthorised(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	base := coordServer(t, NewCoordinator(testLogger(t)))
	clientID, client := newTestConn(t, relay.derpMap, false, false)
	allowed, wanted := uuid.New(), uuid.New()
	conn := dialCoord(ctx, t, base, "/client?id="+clientID.String()+"&agent="+allowed.String())
	err := Coordinate(ctx, conn, client, &wanted)
	require.ErrorIs(t, err, ErrNotAuthorised)
}
