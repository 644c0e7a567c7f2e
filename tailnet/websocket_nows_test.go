//go:build !((linux || darwin) && ts_debug_websockets)

package tailnet

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestConnForceWebSocketsUnavailable: without upstream's websocket client
// compiled in, asking for it fails loudly instead of silently not using it.
func TestConnForceWebSocketsUnavailable(t *testing.T) {
	t.Parallel()
	_, err := NewConn(&Options{
		Addresses:           []netip.Prefix{RandomClientPrefix()},
		DERPForceWebSockets: true,
	})
	require.ErrorContains(t, err, "ts_debug_websockets")
}
