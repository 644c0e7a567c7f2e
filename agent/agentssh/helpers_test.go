package agentssh_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent/agentssh"
)

// testTimeout bounds every test.
const testTimeout = 60 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// testLogger writes the server's log to the test log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// startServer serves a new agentssh server on a loopback port until the
// test ends.
func startServer(t testing.TB, opts agentssh.Options) (*agentssh.Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	srv, err := agentssh.New(opts)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.ErrorIs(t, <-served, agentssh.ErrServerClosed)
	})
	return srv, ln.Addr().String()
}

// dial connects an x/crypto SSH client whose I/O is bounded by ctx.
func dial(ctx context.Context, t testing.TB, addr string) *gossh.Client {
	t.Helper()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	require.NoError(t, err)
	if deadline, ok := ctx.Deadline(); ok {
		require.NoError(t, conn.SetDeadline(deadline))
	}
	c, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{
		User:            "anyone",
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	require.NoError(t, err)
	client := gossh.NewClient(c, chans, reqs)
	t.Cleanup(func() { client.Close() })
	return client
}

// syncBuffer collects output written by another goroutine and lets a test
// wait for a substring.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	notify chan struct{} // receives after each write, capacity 1
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{notify: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor waits until the buffer, from offset on, contains substr, and
// returns the offset just past it.
func (b *syncBuffer) waitFor(ctx context.Context, t testing.TB, offset int, substr string) int {
	t.Helper()
	for {
		s := b.String()
		if i := strings.Index(s[offset:], substr); i >= 0 {
			return offset + i + len(substr)
		}
		select {
		case <-b.notify:
		case <-ctx.Done():
			t.Fatalf("waiting for %q: %v; got %q", substr, ctx.Err(), s[offset:])
		}
	}
}

// pollInterval is how often Eventually checks a condition.
const pollInterval = 10 * time.Millisecond

// deadlineLeft is the time left before ctx's deadline.
func deadlineLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return testTimeout
}
