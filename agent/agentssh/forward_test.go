package agentssh_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

// startEcho serves an echo server on a loopback port until the test ends:
// it copies each connection back to itself and closes it at EOF.
func startEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wait := goEcho(ln)
	t.Cleanup(func() {
		ln.Close()
		wait()
	})
	return ln.Addr().String()
}

// goEcho echoes every connection accepted on ln in the background; wait
// returns once ln is closed and every connection has ended.
func goEcho(ln net.Listener) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveEcho(ln, &wg)
	}()
	return wg.Wait
}

// serveEcho echoes every connection accepted on ln until ln closes; it
// counts each connection's goroutine on wg.
func serveEcho(ln net.Listener, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// roundTrip writes msg, half-closes, and returns everything read back.
func roundTrip(c net.Conn, msg string) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	cw, ok := c.(interface{ CloseWrite() error })
	if !ok {
		return "", fmt.Errorf("%T cannot half-close", c)
	}
	if err := cw.CloseWrite(); err != nil {
		return "", err
	}
	got, err := io.ReadAll(c)
	return string(got), err
}

func TestLocalPortForward(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, agentssh.Options{})
	echo := startEcho(t)
	ctx := testutil.Context(t, testutil.WaitShort)
	client := dial(ctx, t, addr)

	// Several at once, each with a half-close passed through.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.DialContext(ctx, "tcp", echo)
			if !assertNoError(t, err) {
				return
			}
			defer c.Close()
			msg := string(rune('a'+i)) + " hello through the tunnel"
			got, err := roundTrip(c, msg)
			if assertNoError(t, err) && got != msg {
				t.Errorf("echo %d: got %q, want %q", i, got, msg)
			}
		}()
	}
	wg.Wait()

	// A target that refuses is reported as a failed channel open.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := closed.Addr().String()
	closed.Close()
	_, err = client.DialContext(ctx, "tcp", closedAddr)
	require.Error(t, err)
}

func TestRemotePortForward(t *testing.T) {
	t.Parallel()
	ctx, client := newClient(t, agentssh.Options{})

	// The client asks the server to listen; connections to that port inside
	// the "workspace" come back over SSH to the client's echo handler.
	ln, err := client.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	wait := goEcho(ln)
	remote := ln.Addr().String()

	for i := range 3 {
		c, err := dialContext(ctx, remote)
		require.NoError(t, err)
		msg := string(rune('a'+i)) + " hello from inside"
		got, err := roundTrip(c, msg)
		require.NoError(t, err)
		require.Equal(t, msg, got)
		c.Close()
	}

	// Closing the client listener cancels the forward (the server answers
	// false for a forward it does not have, which Close reports), and
	// cancelling again fails.
	require.NoError(t, ln.Close())
	wait()
	require.Error(t, ln.Close())
}

func TestRemotePortForwardEndsWithConnection(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, agentssh.Options{})
	ctx := testutil.Context(t, testutil.WaitShort)
	client := dial(ctx, t, addr)
	ln, err := client.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	remote := ln.Addr().String()
	require.NoError(t, client.Close())

	// The port is released: a new connection can forward it again.
	client2 := dial(ctx, t, addr)
	require.Eventually(t, func() bool {
		ln2, err := client2.Listen("tcp", remote)
		if err != nil {
			return false
		}
		require.NoError(t, ln2.Close())
		return true
	}, deadlineLeft(ctx), pollInterval)
}

func dialContext(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// assertNoError is for goroutines, which must not call t.FailNow.
func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
