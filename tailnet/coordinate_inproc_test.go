package tailnet

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/tailnet/proto"
	"github.com/opencoder/coder/testutil"
)

// TestTunnels drives the in-process node side against a real coordinator,
// watched from a fake agent's websocket: tunnels are added and removed on
// demand, survive the coordinator dropping the in-process peer (it
// registers again and re-sends them), and Close is a goodbye.
func TestTunnels(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	coord := NewCoordinator(testLogger(t))
	base := coordServer(t, coord)
	serverID, server := newTestConn(t, relay.derpMap, false, false)

	agentID := uuid.New()
	agentWS := dialCoord(ctx, t, base, "/agent?id="+agentID.String())
	send(ctx, t, agentWS, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(agentID))})
	require.Eventually(t, func() bool { return coord.AgentConnected(agentID) }, testutil.WaitShort, 10*time.Millisecond)
	expect := func(kind proto.PeerUpdateKind) {
		t.Helper()
		u := recvUpdate(ctx, t, agentWS)
		require.Equal(t, serverID, u.ID)
		require.Equal(t, kind, u.Kind, "reason: %s", u.Reason)
	}

	tun := NewTunnels(coord, server, testLogger(t))
	tun.AddTunnel(agentID)
	expect(proto.PeerNode)
	require.Eventually(t, func() bool { _, ok := server.PeerStatus(agentID); return ok }, testutil.WaitShort, 10*time.Millisecond,
		"the agent's node reached the server node")

	// Someone else registers with the server node's ID: the coordinator
	// drops the in-process session, which comes back with its tunnel.
	impostor := dialCoord(ctx, t, base, "/client?id="+serverID.String()+"&agent="+agentID.String())
	expect(proto.PeerLost)
	expect(proto.PeerNode)
	_ = impostor.CloseNow()

	tun.RemoveTunnel(agentID)
	expect(proto.PeerDisconnected)
	require.Eventually(t, func() bool { _, ok := server.PeerStatus(agentID); return !ok }, testutil.WaitShort, 10*time.Millisecond,
		"the server node forgot the agent")

	tun.AddTunnel(agentID)
	expect(proto.PeerNode)
	require.NoError(t, tun.Close())
	require.NoError(t, tun.Close())
	expect(proto.PeerDisconnected) // a goodbye, not "lost"
}

// TestTunnelsEndWithCoordinator: the loop stops by itself when the
// coordinator closes, rather than retrying forever.
func TestTunnelsEndWithCoordinator(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	coord := NewCoordinator(testLogger(t))
	_, server := newTestConn(t, relay.derpMap, false, false)
	tun := NewTunnels(coord, server, testLogger(t))
	tun.AddTunnel(uuid.New())
	require.NoError(t, coord.Close())
	select {
	case <-tun.done:
	case <-ctx.Done():
		t.Fatal("the in-process coordination kept running after the coordinator closed")
	}
	require.NoError(t, tun.Close())
}
