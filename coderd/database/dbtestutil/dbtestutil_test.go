package dbtestutil_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/database/migrations"
	"github.com/opencoder/coder/testutil"
)

// TestMain runs the tests against one PostgreSQL, then fails the run if
// any goroutine outlived them (the built-in server and admin pool too).
func TestMain(m *testing.M) { os.Exit(dbtestutil.MainCheckLeaks(m)) }

func open(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// requireMigrated checks the schema is at the newest migration.
func requireMigrated(ctx context.Context, t testing.TB, db *sql.DB) {
	t.Helper()
	current, latest, err := migrations.Version(ctx, db)
	require.NoError(t, err)
	require.Positive(t, latest)
	require.Equal(t, latest, current)
}

func TestNewDBIsolatedAndMigrated(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	urlA, urlB := dbtestutil.NewDB(t), dbtestutil.NewDB(t)
	require.NotEqual(t, urlA, urlB)
	a, b := open(t, urlA), open(t, urlB)
	requireMigrated(ctx, t, a)
	requireMigrated(ctx, t, b)

	_, err := a.ExecContext(ctx, "CREATE TABLE only_in_a (v int)")
	require.NoError(t, err)
	var n int
	require.NoError(t, b.QueryRowContext(ctx,
		"SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'").Scan(&n))
	require.Zero(t, n, "a table created in one test database leaks into another")
}

func TestNewDBDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	var name string
	t.Run("owner", func(t *testing.T) {
		db := open(t, dbtestutil.NewDB(t))
		require.NoError(t, db.QueryRowContext(ctx, "SELECT current_database()").Scan(&name))
		// Left open on purpose: the drop must not wait for it.
		_, err := db.Conn(ctx)
		require.NoError(t, err)
	})
	require.True(t, strings.HasPrefix(name, "test_"), name)

	observer := open(t, dbtestutil.NewDB(t))
	var exists bool
	require.NoError(t, observer.QueryRowContext(ctx,
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s outlived its test", name)
}

func TestNewDBParallel(t *testing.T) {
	t.Parallel()
	const n = 16
	for i := range n {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, testutil.WaitLong)
			db := open(t, dbtestutil.NewDB(t))
			requireMigrated(ctx, t, db)
			_, err := db.ExecContext(ctx, "CREATE TABLE mine (v int)")
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, "INSERT INTO mine VALUES ($1)", i)
			require.NoError(t, err)
			var v int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT v FROM mine").Scan(&v))
			require.Equal(t, i, v)
		})
	}
}
