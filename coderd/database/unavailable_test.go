package database_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) { os.Exit(dbtestutil.Main(m)) }

func TestIsUnavailableClassifies(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"not found", database.ErrNotFound, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"admin shutdown", fmt.Errorf("get user: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"starting up", &pgconn.PgError{Code: "57P03"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"conn closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		// A network error that did not come through pgconn is someone
		// else's (an agent out of reach), not the database's.
		{"foreign network error", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{"context canceled", context.Canceled, false},
		{"cut mid-query", fmt.Errorf("get key: %w", io.ErrUnexpectedEOF), true},
	} {
		require.Equal(t, c.want, database.IsUnavailable(c.err), c.name)
	}
}

// TestIsUnavailableRealPostgres: the errors a real pool returns when its
// server is stopped, or its connection is terminated, count as
// unavailable; errors of a healthy server do not; and the same Store
// serves again once PostgreSQL is back on its address, without being
// reopened.
func TestIsUnavailableRealPostgres(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, 2*time.Minute)
	dir := t.TempDir()
	pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: dir, Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	store, err := database.Open(ctx, pg.URL())
	require.NoError(t, err)
	t.Cleanup(store.Close)

	require.NoError(t, store.Ping(ctx))
	_, err = store.GetUserByID(ctx, [16]byte{1})
	require.ErrorIs(t, err, database.ErrNotFound)
	require.False(t, database.IsUnavailable(err))
	_, err = store.Pool().Exec(ctx, "SELEKT 1")
	require.Error(t, err)
	require.False(t, database.IsUnavailable(err), "a bad query is a bug, not an outage: %v", err)

	// A connection the server terminates in the middle of a session.
	conn, err := store.Pool().Acquire(ctx)
	require.NoError(t, err)
	pid := conn.Conn().PgConn().PID()
	_, err = store.Pool().Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SELECT 1")
	conn.Release()
	require.Error(t, err)
	require.True(t, database.IsUnavailable(err), "terminated: %v", err)

	// The server stopped: every query fails at once, and says why.
	port := pg.Port()
	require.NoError(t, pg.Stop(ctx))
	start := time.Now()
	err = store.Ping(ctx)
	require.Error(t, err)
	require.True(t, database.IsUnavailable(err), "stopped: %v", err)
	_, err = store.GetUserByID(ctx, [16]byte{1})
	require.True(t, database.IsUnavailable(err), "stopped: %v", err)
	require.False(t, errors.Is(err, database.ErrNotFound))
	t.Logf("two queries against a stopped server failed in %s", time.Since(start).Round(time.Millisecond))
	_, err = database.Open(ctx, pg.URL())
	require.True(t, database.IsUnavailable(err), "open while stopped: %v", err)

	// Back on the same address: the same pool serves again.
	pg, err = builtinpg.Start(ctx, builtinpg.Options{Dir: dir, Fast: true, Port: port})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	require.Eventually(t, func() bool { return store.Ping(ctx) == nil }, 30*time.Second, 50*time.Millisecond)
	_, err = store.GetUserByID(ctx, [16]byte{1})
	require.ErrorIs(t, err, database.ErrNotFound)
}

// TestIsUnavailableCutConnection: a pool whose connections are cut under
// it (a partition that resets them, as the e2e tests' proxy does) returns
// errors that count as unavailable, both for a query on a pooled
// connection and for new connections, and serves again once healed.
func TestIsUnavailableCutConnection(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	direct := dbtestutil.NewDB(t)
	p := testutil.NewCutProxy(t, mustHost(t, direct))
	store, err := database.Open(ctx, strings.Replace(direct, mustHost(t, direct), p.Addr(), 1))
	require.NoError(t, err)
	t.Cleanup(store.Close)
	require.NoError(t, store.Ping(ctx))

	p.SetCut(true)
	for range 3 { // a pooled connection, then new ones
		_, err = store.GetUserByID(ctx, [16]byte{1})
		require.Error(t, err)
		require.False(t, errors.Is(err, database.ErrNotFound))
		require.True(t, database.IsUnavailable(err), "cut: %v", err)
	}
	p.SetCut(false)
	require.Eventually(t, func() bool { return store.Ping(ctx) == nil }, 30*time.Second, 50*time.Millisecond)
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}
