package reconnectingpty_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/opencoder/coder/agent/reconnectingpty"
	"github.com/opencoder/coder/testutil"
)

// pollInterval is how often Eventually checks a condition.
const pollInterval = 10 * time.Millisecond

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer serves terminals running /bin/sh in dir on a loopback port.
func startServer(t *testing.T, dir string, timeout time.Duration) (*reconnectingpty.Server, string) {
	t.Helper()
	srv := reconnectingpty.New(reconnectingpty.Options{
		Timeout: timeout,
		Command: func(script string, env []string) *exec.Cmd {
			cmd := exec.Command("/bin/sh")
			if script != "" {
				cmd = exec.Command("/bin/sh", "-c", script)
			}
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), env...)
			return cmd
		},
	})
	serve := func(l net.Listener) error { return srv.Serve(context.Background(), l) }
	return srv, testutil.ServeLoopback(t, serve, srv.Close, reconnectingpty.ErrClosed)
}

// client is one attached connection that records everything it receives.
type client struct {
	conn   net.Conn
	out    *testutil.WaitBuffer
	readWG sync.WaitGroup
}

func connect(ctx context.Context, t *testing.T, addr string, init reconnectingpty.Init) *client {
	t.Helper()
	conn := testutil.DialTCP(ctx, t, addr)
	require.NoError(t, reconnectingpty.WriteInit(conn, init))
	c := &client{conn: conn, out: &testutil.WaitBuffer{}}
	c.readWG.Add(1)
	go func() {
		defer c.readWG.Done()
		_, _ = io.Copy(c.out, conn)
		c.out.CloseWrite()
	}()
	t.Cleanup(c.close)
	return c
}

func (c *client) send(t *testing.T, msg reconnectingpty.ClientMessage) {
	t.Helper()
	require.NoError(t, json.NewEncoder(c.conn).Encode(msg))
}

func (c *client) close() {
	c.conn.Close()
	c.readWG.Wait()
}

var pidPattern = regexp.MustCompile(`pid--(\d+)-end`)

// pid asks the terminal's shell for its pid.
func (c *client) pid(ctx context.Context, t *testing.T) int {
	t.Helper()
	start := len(c.out.String())
	c.send(t, reconnectingpty.ClientMessage{Data: "echo pid-''-$$-end\n"})
	m := c.out.WaitMatch(ctx, t, start, pidPattern)
	pid, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return pid
}

func TestReattachReplaysOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, addr := startServer(t, dir, 0)
	ctx := testutil.Context(t, testutil.WaitShort)
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	id := uuid.NewString()
	init := reconnectingpty.Init{ID: id, Height: 24, Width: 80}

	c1 := connect(ctx, t, addr, init)
	pid := c1.pid(ctx, t)
	// The next output depends on data the test provides after detaching.
	c1.send(t, reconnectingpty.ClientMessage{Data: "read line < fifo; echo got-''-$line; touch done\n"})
	c1.close()

	writeFIFO(ctx, t, fifo, "payload\n")
	require.Eventually(t, func() bool {
		_, err := os.Stat(filepath.Join(dir, "done"))
		return err == nil
	}, testutil.WaitShort, pollInterval)
	requireStats(t, srv, reconnectingpty.Stats{Terminals: 1})

	// Reattaching replays output from before the drop and from while
	// detached, and the same shell is still there.
	c2 := connect(ctx, t, addr, init)
	off := c2.out.WaitFor(ctx, t, 0, "pid--"+strconv.Itoa(pid)+"-end")
	c2.out.WaitFor(ctx, t, off, "got--payload")
	require.Equal(t, pid, c2.pid(ctx, t))

	// Another id is another process.
	other := connect(ctx, t, addr, reconnectingpty.Init{ID: uuid.NewString(), Height: 24, Width: 80})
	require.NotEqual(t, pid, other.pid(ctx, t))
	requireStats(t, srv, reconnectingpty.Stats{Terminals: 2, Connections: 2})

	// A second simultaneous attachment sees the same live output, and its
	// input reaches the same shell.
	c3 := connect(ctx, t, addr, init)
	c3.out.WaitFor(ctx, t, 0, "got--payload") // replay
	off2, off3 := len(c2.out.String()), len(c3.out.String())
	c3.send(t, reconnectingpty.ClientMessage{Data: "echo both-''-see-this\n"})
	c2.out.WaitFor(ctx, t, off2, "both--see-this")
	c3.out.WaitFor(ctx, t, off3, "both--see-this")
}

func TestScrollbackIsBounded(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, t.TempDir(), 0)
	ctx := testutil.Context(t, testutil.WaitShort)
	init := reconnectingpty.Init{ID: uuid.NewString(), Height: 24, Width: 80}
	c1 := connect(ctx, t, addr, init)
	// 200 KiB of output, then a marker.
	c1.send(t, reconnectingpty.ClientMessage{Data: "head -c 204800 /dev/zero | tr '\\0' x; echo; echo end-''-marker\n"})
	c1.out.WaitFor(ctx, t, 0, "end--marker")
	c1.close()

	c2 := connect(ctx, t, addr, init)
	c2.out.WaitFor(ctx, t, 0, "end--marker")
	require.LessOrEqual(t, len(c2.out.String()), reconnectingpty.DefaultScrollbackSize+1024)
	require.NotContains(t, c2.out.String(), "head -c", "the oldest output should be gone")
}

func TestIdleTimeoutKillsProcess(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t, t.TempDir(), 100*time.Millisecond)
	ctx := testutil.Context(t, testutil.WaitShort)
	init := reconnectingpty.Init{ID: uuid.NewString(), Height: 24, Width: 80}
	c := connect(ctx, t, addr, init)
	pid := c.pid(ctx, t)
	c.close()

	waitGone(t, pid)
	require.Eventually(t, func() bool { return srv.Stats().Terminals == 0 }, testutil.WaitShort, pollInterval)

	// The id now starts a fresh process.
	c = connect(ctx, t, addr, init)
	require.NotEqual(t, pid, c.pid(ctx, t))
}

func TestProcessExitDisconnects(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t, t.TempDir(), 0)
	ctx := testutil.Context(t, testutil.WaitShort)
	c := connect(ctx, t, addr, reconnectingpty.Init{ID: uuid.NewString(), Command: "echo finished-''-now"})
	c.out.WaitEOF(ctx, t)
	require.Contains(t, c.out.String(), "finished--now")
	require.Eventually(t, func() bool { return srv.Stats().Terminals == 0 }, testutil.WaitShort, pollInterval)
}

func TestResize(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, t.TempDir(), 0)
	ctx := testutil.Context(t, testutil.WaitShort)
	init := reconnectingpty.Init{ID: uuid.NewString(), Height: 30, Width: 90}
	c := connect(ctx, t, addr, init)
	c.send(t, reconnectingpty.ClientMessage{Data: "echo size-''-$(stty size)\n"})
	off := c.out.WaitFor(ctx, t, 0, "size--30 90")

	// Messages apply in order: the resize lands before the next command.
	c.send(t, reconnectingpty.ClientMessage{Height: 40, Width: 100})
	c.send(t, reconnectingpty.ClientMessage{Data: "echo size-''-$(stty size)\n"})
	c.out.WaitFor(ctx, t, off, "size--40 100")
	c.close()

	// Reattaching with another size resizes too.
	init.Height, init.Width = 50, 120
	c = connect(ctx, t, addr, init)
	off = len(c.out.String())
	c.send(t, reconnectingpty.ClientMessage{Data: "echo size-''-$(stty size)\n"})
	c.out.WaitFor(ctx, t, off, "size--50 120")
}

func TestCloseKillsTerminals(t *testing.T) {
	t.Parallel()
	srv, addr := startServer(t, t.TempDir(), 0)
	ctx := testutil.Context(t, testutil.WaitShort)
	c := connect(ctx, t, addr, reconnectingpty.Init{ID: uuid.NewString(), Height: 24, Width: 80})
	pid := c.pid(ctx, t)
	require.NoError(t, srv.Close())
	c.out.WaitEOF(ctx, t)
	waitGone(t, pid)
}

func TestBadInit(t *testing.T) {
	t.Parallel()
	_, addr := startServer(t, t.TempDir(), 0)
	ctx := testutil.Context(t, testutil.WaitShort)
	for _, init := range []reconnectingpty.Init{{ID: "not-a-uuid"}, {}} {
		c := connect(ctx, t, addr, init)
		c.out.WaitEOF(ctx, t)
		require.Empty(t, c.out.String())
	}
}

// requireStats waits for the server's stats to settle on want (detaching
// finishes asynchronously after the client closes).
func requireStats(t *testing.T, srv *reconnectingpty.Server, want reconnectingpty.Stats) {
	t.Helper()
	require.Eventually(t, func() bool { return srv.Stats() == want }, testutil.WaitShort, pollInterval,
		"stats %+v, want %+v", srv.Stats(), want)
}

// writeFIFO writes data to a named pipe once a reader has opened it.
func writeFIFO(ctx context.Context, t *testing.T, path, data string) {
	t.Helper()
	var f *os.File
	require.Eventually(t, func() bool {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if errors.Is(err, syscall.ENXIO) {
			return false // no reader yet
		}
		require.NoError(t, err)
		return true
	}, time.Until(deadline(ctx)), pollInterval)
	_, err := f.WriteString(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// waitGone waits until pid no longer exists (killed and reaped).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
	}, testutil.WaitShort, pollInterval, "process %d still exists", pid)
}
