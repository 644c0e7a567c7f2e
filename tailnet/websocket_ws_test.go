//go:build (linux || darwin) && ts_debug_websockets

package tailnet

import (
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// wsChildEnv marks the re-executed test binary that runs
// TestConnDERPWebSockets' nodes.
const wsChildEnv = "TAILNET_DERP_WS_CHILD"

// TestConnDERPWebSockets relays over websocket DERP, as every node does
// when coderd runs with --derp-force-websockets, and checks that the relay
// saw websocket upgrades (not the plain "Upgrade: DERP" one). The switch is
// process-wide, so the nodes run in a child process: the other tests of
// this run keep the plain upgrade.
func TestConnDERPWebSockets(t *testing.T) {
	require.NoError(t, CheckDERPWebSockets())
	if os.Getenv(wsChildEnv) != "1" {
		t.Parallel()
		runInChild(t, "TestConnDERPWebSockets", wsChildEnv, nil)
		return
	}
	ctx := testContext(t)
	var websocketUpgrades, derpUpgrades atomic.Int64
	relay := newWrappedTestRelay(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch strings.ToLower(r.Header.Get("Upgrade")) {
			case "websocket":
				websocketUpgrades.Add(1)
			case "derp":
				derpUpgrades.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	p := newEchoPair(ctx, t, Options{DERPMap: relay.derpMap, BlockEndpoints: true, DERPForceWebSockets: true})
	roundTrip(ctx, t, p.client, p.dst, 256<<10)
	require.Positive(t, websocketUpgrades.Load(), "no DERP connection came over websockets")
	require.Zero(t, derpUpgrades.Load(), "a DERP connection used the plain upgrade")
}
