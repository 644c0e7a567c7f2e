package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// echoServer serves TCP echo on 127.0.0.1 until the test ends; it stands
// for a program listening inside the workspace. Cleanup closes the
// connections still open too: the agent's side of a forwarded connection
// may outlive the client that opened it.
func echoServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  = map[net.Conn]struct{}{}
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			if closed {
				_ = c.Close()
			}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().(*net.TCPAddr).Port
}

var forwardingLine = regexp.MustCompile(`Forwarding (127\.0\.0\.1:\d+) -> admin/ws:(\d+)`)

func TestPortForward(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	d.startAgent(d.createWorkspace("ws")["main"])
	port1, port2 := echoServer(t), echoServer(t)

	ctx := testutil.Context(t, 2*time.Minute)
	runCtx, stop := context.WithCancel(ctx)
	r := d.start(runCtx, nil, "port-forward", "ws", "--tcp", fmt.Sprintf("0:%d", port1), "-p", fmt.Sprintf("127.0.0.1:0:%d", port2))
	r.waitFor(t, &r.stderr, "Ready")
	found := forwardingLine.FindAllStringSubmatch(r.stdout.String(), -1)
	require.Len(t, found, 2, r.stdout.String())
	require.Equal(t, fmt.Sprint(port1), found[0][2])
	require.Equal(t, fmt.Sprint(port2), found[1][2])

	// Several connections at once, through both listeners; each one's data
	// comes back intact, and a half-close reaches the echo server.
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", found[i%2][1])
			if !checkf(t, err == nil, "dial: %v", err) {
				return
			}
			defer c.Close()
			msg := strings.Repeat(fmt.Sprintf("message %d ", i), 10000) + "\n"
			go func() {
				_, _ = io.WriteString(c, msg)
				_ = c.(*net.TCPConn).CloseWrite()
			}()
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			got, err := io.ReadAll(bufio.NewReader(c))
			checkf(t, err == nil && string(got) == msg, "connection %d: read %d bytes of %d: %v", i, len(got), len(msg), err)
		}()
	}
	wg.Wait()
	if t.Failed() {
		// A connection that got nothing back: the command says why (a
		// dial of the agent's port that failed, with its error).
		t.Logf("port-forward stderr:\n%s", r.stderr.String())
	}

	stop()
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	_, err := net.Dial("tcp", found[0][1])
	require.Error(t, err, "the listener is closed once the command ends")
}

// checkf reports a failure from any goroutine (require may only stop the
// test's own goroutine).
func checkf(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

func TestPortForwardFlagErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want string
	}{
		{nil, "nothing to forward"},
		{[]string{"--tcp", "abc"}, `--tcp "abc": local port "abc" is not a number`},
		{[]string{"--tcp", "8080:0"}, `remote port "0" is not a number from 1 to 65535`},
		{[]string{"--tcp", "8000-8002:9000-9001"}, "differ in length"},
		{[]string{"--tcp", "[::1:80:80"}, "bad listen address"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t) // the flags fail before any request
			r := e.run(append([]string{"port-forward", "ws"}, c.args...)...)
			require.Equal(t, 1, r.code)
			require.Contains(t, r.stderr, c.want)
		})
	}
}
