package testutil

import (
	"context"
	"errors"
	"net"
	"testing"
)

// ServeLoopback runs serve on a new loopback TCP listener until the test
// ends, and returns the listener's address. At cleanup it calls stop (the
// server's Close, or a context's cancel) and checks that serve returned
// an error matching closed: a server must say it was closed, not fail.
func ServeLoopback(t testing.TB, serve func(net.Listener) error, stop func() error, closed error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- serve(ln) }()
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
		if err := <-served; !errors.Is(err, closed) {
			t.Errorf("serve returned %v, want %v", err, closed)
		}
	})
	return ln.Addr().String()
}

// DialTCP connects to addr, and bounds the connection's I/O by ctx's
// deadline too, so a peer that stops answering fails the test instead of
// hanging it.
func DialTCP(ctx context.Context, t testing.TB, addr string) net.Conn {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			t.Fatalf("set deadline: %v", err)
		}
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
