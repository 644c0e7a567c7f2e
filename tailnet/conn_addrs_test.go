package tailnet

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// forgetfulConn answers nil addresses, as gVisor's netstack conns do once
// their endpoint is gone (a client that reset the connection).
type forgetfulConn struct{ net.Conn }

func (forgetfulConn) LocalAddr() net.Addr  { return nil }
func (forgetfulConn) RemoteAddr() net.Addr { return nil }

// Accepted connections always answer their addresses: the agent logs
// RemoteAddr().String() after a failed session, and a nil address there
// was a panic seen in CI.
func TestStableAddrs(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })

	c := withStableAddrs(a)
	want := a.RemoteAddr().String()
	require.Equal(t, want, c.RemoteAddr().String(), "the address seen at accept time")

	c = withStableAddrs(forgetfulConn{b})
	require.NotNil(t, c.RemoteAddr())
	require.NotNil(t, c.LocalAddr())
	require.NotPanics(t, func() { _ = c.RemoteAddr().String() })
	_, ok := c.(interface{ CloseWrite() error })
	require.True(t, ok, "half-close still offered")
}
