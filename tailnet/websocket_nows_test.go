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
	require.ErrorIs(t, CheckDERPWebSockets(), ErrDERPWebSocketsNotCompiled)
	_, err := NewConn(&Options{
		Addresses:           []netip.Prefix{RandomClientPrefix()},
		DERPForceWebSockets: true,
	})
	require.ErrorIs(t, err, ErrDERPWebSocketsNotCompiled)
	require.ErrorContains(t, err, "ts_debug_websockets")
}
