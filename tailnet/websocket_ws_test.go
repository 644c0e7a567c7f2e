//go:build (linux || darwin) && ts_debug_websockets

package tailnet

import (
	"net/netip"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestConnDERPWebSockets relays over websocket DERP. Run with
// -tags ts_debug_websockets. The switch is process-wide, so every relayed
// test in this run then uses websockets too.
func TestConnDERPWebSockets(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	newConn := func(id uuid.UUID, addr netip.Prefix, agent bool) *Conn {
		c, err := NewConn(&Options{
			ID:                  id,
			Addresses:           []netip.Prefix{addr},
			DERPMap:             relay.derpMap,
			BlockEndpoints:      true,
			DERPForceWebSockets: true,
			Logger:              testLogger(t),
			ForwardUnclaimedTCP: agent,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	agentID, clientID := uuid.New(), uuid.New()
	agent := newConn(agentID, AgentPrefix(agentID), true)
	client := newConn(clientID, RandomClientPrefix(), false)
	linkPeers(t, agentID, agent, clientID, client)

	ln, err := agent.Listen("tcp", ":4444")
	require.NoError(t, err)
	echoServe(t, ln)
	dst := netip.AddrPortFrom(AgentIP(agentID), 4444)
	require.True(t, client.AwaitReachable(ctx, dst.Addr()))
	roundTrip(ctx, t, client, dst, 256<<10)
}
