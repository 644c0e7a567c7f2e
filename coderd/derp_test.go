package coderd_test

import (
	"bufio"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
)

// TestDERPUpgradeThroughMiddleware: the DERP relay hijacks its connection;
// every middleware wrapping the response writer must let it (a regression:
// the request logger once hid http.Hijacker and DERP answered 500).
func TestDERPUpgradeThroughMiddleware(t *testing.T) {
	t.Parallel()
	client, _ := coderdtest.New(t, nil)
	conn, err := net.DialTimeout("tcp", client.URL.Host, 10*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	req, err := http.NewRequest(http.MethodGet, client.URL.String()+"/derp", nil)
	require.NoError(t, err)
	req.Header.Set("Upgrade", "DERP")
	req.Header.Set("Connection", "Upgrade")
	require.NoError(t, req.Write(conn))
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
}
