package coderd

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDERPFence: while the replica is registered, DERP upgrades pass and
// their hijacked connections are tracked; closeAll (the replica became
// cut off) closes them, and while cut off new ones are refused with 503.
func TestDERPFence(t *testing.T) {
	t.Parallel()
	var cut atomic.Bool
	// A relay stand-in: hijack, then hold the connection until it closes.
	relay := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
	})
	fence := newDERPFence(relay, cut.Load)
	srv := httptest.NewServer(fence)
	t.Cleanup(srv.Close)

	upgrade := func() (net.Conn, *http.Response) {
		conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 10*time.Second)
		require.NoError(t, err)
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/derp", nil)
		require.NoError(t, err)
		req.Header.Set("Upgrade", "DERP")
		req.Header.Set("Connection", "Upgrade")
		require.NoError(t, req.Write(conn))
		resp, err := http.ReadResponse(bufio.NewReader(conn), req)
		require.NoError(t, err)
		return conn, resp
	}
	conn, resp := upgrade()
	defer conn.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Eventually(t, func() bool {
		fence.mu.Lock()
		defer fence.mu.Unlock()
		return len(fence.conns) == 1
	}, 10*time.Second, 10*time.Millisecond)

	cut.Store(true)
	fence.closeAll()
	_, err := conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the fence closed the relayed connection")
	require.Eventually(t, func() bool {
		fence.mu.Lock()
		defer fence.mu.Unlock()
		return len(fence.conns) == 0
	}, 10*time.Second, 10*time.Millisecond)

	refused, resp := upgrade()
	defer refused.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

	cut.Store(false)
	again, resp := upgrade()
	defer again.Close()
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
}
