package tailnet

import (
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/tailnet/proto"
	"github.com/opencoder/coder/testutil"
)

// recordingShared records the core's hooks.
type recordingShared struct {
	mu     sync.Mutex
	events []string
	remote map[uuid.UUID]bool
}

func (r *recordingShared) PeerChanged(id uuid.UUID, agent, left, lost bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := "node"
	switch {
	case left && lost:
		kind = "lost"
	case left:
		kind = "left"
	}
	r.events = append(r.events, kind+" "+id.String())
}

func (r *recordingShared) TunnelChanged(client, agent uuid.UUID, exists bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := "untunnel"
	if exists {
		kind = "tunnel"
	}
	r.events = append(r.events, kind+" "+client.String()+" "+agent.String())
}

func (r *recordingShared) AgentConnected(agent uuid.UUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.remote[agent]
}

func (r *recordingShared) has(e string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, got := range r.events {
		if got == e {
			return true
		}
	}
	return false
}

// TestCoordinatorShared covers the core's side of a shared coordinator:
// hooks for local changes, Deliver of remote nodes (refused about a local
// peer), remote agents in AgentConnected, and Suspend/Resume.
func TestCoordinatorShared(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	coord := NewCoordinator(testLogger(t))
	shared := &recordingShared{remote: map[uuid.UUID]bool{}}
	coord.SetShared(shared)
	base := coordServer(t, coord)
	localAgent, remoteAgent, clientID := uuid.New(), uuid.New(), uuid.New()

	agent := dialCoord(ctx, t, base, "/agent?id="+localAgent.String())
	send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(localAgent))})
	client := dialCoord(ctx, t, base, "/client?id="+clientID.String()+"&agent="+remoteAgent.String())
	send(ctx, t, client, &proto.CoordinateRequest{UpdateSelf: fakeNode(RandomClientIP()), AddTunnel: &remoteAgent})
	require.Eventually(t, func() bool {
		return shared.has("node "+localAgent.String()) && shared.has("tunnel "+clientID.String()+" "+remoteAgent.String())
	}, testutil.WaitShort, 10*time.Millisecond)
	require.True(t, coord.LocalTunnel(clientID, remoteAgent))
	n, isAgent, ok := coord.LocalPeer(localAgent)
	require.True(t, ok)
	require.True(t, isAgent)
	require.NotNil(t, n)

	// A remote agent's node reaches the client; nothing may speak for a
	// peer connected here.
	require.False(t, coord.AgentConnected(remoteAgent))
	shared.mu.Lock()
	shared.remote[remoteAgent] = true
	shared.mu.Unlock()
	require.True(t, coord.AgentConnected(remoteAgent))
	remoteNode := fakeNode(AgentIP(remoteAgent))
	require.True(t, coord.Deliver(clientID, proto.PeerUpdate{ID: remoteAgent, Kind: proto.PeerNode, Node: remoteNode}))
	u := recvUpdate(ctx, t, client)
	require.Equal(t, remoteAgent, u.ID)
	require.Equal(t, remoteNode.Key, u.Node.Key)
	require.False(t, coord.Deliver(clientID, proto.PeerUpdate{ID: localAgent, Kind: proto.PeerLost}))
	require.False(t, coord.Deliver(uuid.New(), proto.PeerUpdate{ID: remoteAgent, Kind: proto.PeerLost}))

	send(ctx, t, client, &proto.CoordinateRequest{RemoveTunnel: &remoteAgent})
	require.Eventually(t, func() bool { return shared.has("untunnel " + clientID.String() + " " + remoteAgent.String()) },
		testutil.WaitShort, 10*time.Millisecond)
	// A late node of the agent no longer reaches the client.
	require.False(t, coord.Deliver(clientID, proto.PeerUpdate{ID: remoteAgent, Kind: proto.PeerNode, Node: remoteNode}))

	// Suspended: peers are dropped (lost) and new ones refused.
	coord.Suspend()
	require.True(t, coord.Suspended())
	for {
		var resp proto.CoordinateResponse
		if err := wsjson.Read(ctx, agent, &resp); err != nil {
			break
		}
	}
	require.Eventually(t, func() bool { return shared.has("lost " + localAgent.String()) }, testutil.WaitShort, 10*time.Millisecond)
	refused := dialCoord(ctx, t, base, "/agent?id="+localAgent.String())
	var resp proto.CoordinateResponse
	require.Error(t, wsjson.Read(ctx, refused, &resp))
	coord.Resume()
	agent = dialCoord(ctx, t, base, "/agent?id="+localAgent.String())
	send(ctx, t, agent, &proto.CoordinateRequest{UpdateSelf: fakeNode(AgentIP(localAgent))})
	require.Eventually(t, func() bool { _, _, ok := coord.LocalPeer(localAgent); return ok }, testutil.WaitShort, 10*time.Millisecond)
}
