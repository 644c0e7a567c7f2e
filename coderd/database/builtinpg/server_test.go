//go:build unix

package builtinpg_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/testutil"
)

// start starts a server and registers a Stop at cleanup.
func start(ctx context.Context, t *testing.T, opts builtinpg.Options) *builtinpg.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testutil.Logger(t)
	}
	s, err := builtinpg.Start(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

func connect(ctx context.Context, t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestStartStopRestartKeepsData(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := filepath.Join(t.TempDir(), "postgres")

	s := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	require.True(t, strings.HasPrefix(s.URL(), "postgres://coder:"), s.URL())
	require.True(t, strings.HasSuffix(s.URL(), fmt.Sprintf("@127.0.0.1:%d/coder?sslmode=disable", s.Port())), s.URL())
	conn := connect(ctx, t, s.URL())
	_, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('hello')")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	firstPort := s.Port()

	url, err := builtinpg.ReadURL(dir)
	require.NoError(t, err)
	require.Equal(t, s.URL(), url)

	require.NoError(t, s.Stop(ctx))
	require.NoError(t, s.Stop(ctx), "Stop is idempotent")
	select {
	case <-s.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}

	fi, err := os.Stat(filepath.Join(dir, "password"))
	require.NoError(t, err)
	if runtime.GOOS != "windows" {
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		dfi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), dfi.Mode().Perm())
	}

	s2 := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	require.Equal(t, firstPort, s2.Port(), "a free remembered port is reused")
	require.Equal(t, s.URL(), s2.URL())
	conn = connect(ctx, t, s2.URL())
	var v string
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	require.Equal(t, "hello", v)

	// Only loopback TCP with a password: a wrong one is refused.
	bad := strings.Replace(s2.URL(), "coder:", "coder:x", 1)
	_, err = pgx.Connect(ctx, bad)
	require.Error(t, err)
}

func TestRememberedPortTakenPicksAnother(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := filepath.Join(t.TempDir(), "postgres")

	s := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	port := s.Port()
	require.NoError(t, s.Stop(ctx))

	// Something else takes the port meanwhile.
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(port))
	require.NoError(t, err)
	defer l.Close()

	s2 := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	require.NotEqual(t, port, s2.Port())
	conn := connect(ctx, t, s2.URL())
	require.NoError(t, conn.Ping(ctx))
}

func TestExplicitPort(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	port := freePort(t)
	s := start(ctx, t, builtinpg.Options{Dir: t.TempDir(), Port: port, Fast: true})
	require.Equal(t, port, s.Port())
	require.Contains(t, s.URL(), "127.0.0.1:"+strconv.Itoa(port))
}

func TestSecondStartOnSameDirFails(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := t.TempDir()
	s := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})

	_, err := builtinpg.Start(ctx, builtinpg.Options{Dir: dir, Fast: true})
	require.ErrorIs(t, err, builtinpg.ErrAlreadyRunning)

	// The first server is unaffected.
	conn := connect(ctx, t, s.URL())
	require.NoError(t, conn.Ping(ctx))
}

func TestRecoversFromKilledServer(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := t.TempDir()
	// Durable settings: with Fast, a commit may not survive kill -9.
	s := start(ctx, t, builtinpg.Options{Dir: dir})
	conn := connect(ctx, t, s.URL())
	_, err := conn.Exec(ctx, "CREATE TABLE t (v int); INSERT INTO t VALUES (42)")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	pid := postmasterPID(t, dir)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
	<-s.Done()
	require.Error(t, s.Stop(ctx), "Stop reports the unexpected exit")
	require.FileExists(t, filepath.Join(dir, "data", "postmaster.pid"), "kill -9 leaves the pid file")

	s2 := start(ctx, t, builtinpg.Options{Dir: dir})
	conn = connect(ctx, t, s2.URL())
	var v int
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM t").Scan(&v))
	require.Equal(t, 42, v)
}

func TestRecoversFromRecycledPID(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := t.TempDir()
	s := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	require.NoError(t, s.Stop(ctx))

	// A stale postmaster.pid names a PID now used by an unrelated live
	// process, as after a container restart.
	sleep := exec.CommandContext(ctx, "sleep", "600")
	require.NoError(t, sleep.Start())
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	content := fmt.Sprintf("%d\n%s\n1700000000\n5432\n\n127.0.0.1\n  5432001   99999999\nready   \n", sleep.Process.Pid, filepath.Join(dir, "data"))
	require.NoError(t, os.WriteFile(pidFile, []byte(content), 0o600))

	s2 := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	conn := connect(ctx, t, s2.URL())
	require.NoError(t, conn.Ping(ctx))
}

func TestConcurrentStop(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	s := start(ctx, t, builtinpg.Options{Dir: t.TempDir(), Fast: true})
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.Stop(ctx) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func TestReadURLNeverInitialized(t *testing.T) {
	t.Parallel()
	_, err := builtinpg.ReadURL(t.TempDir())
	require.ErrorIs(t, err, builtinpg.ErrNotInitialized)
	require.Contains(t, err.Error(), "coder server")
}

func TestStartRequiresDir(t *testing.T) {
	t.Parallel()
	_, err := builtinpg.Start(testutil.Context(t, testutil.WaitLong), builtinpg.Options{})
	require.Error(t, err)
}

func TestStartHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := builtinpg.Start(ctx, builtinpg.Options{Dir: t.TempDir(), Fast: true})
	require.ErrorIs(t, err, context.Canceled)
}

func postmasterPID(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	require.NoError(t, err)
	return pid
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
