package migrations_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/database/migrations"
)

func TestMain(m *testing.M) { os.Exit(dbtestutil.Main(m)) }

// emptyDB creates a database with no schema at all (from template0, not
// from dbtestutil's migrated template) on the test server and returns it
// open; it is dropped when the test ends.
func emptyDB(ctx context.Context, t *testing.T) (*sql.DB, string) {
	t.Helper()
	// A dbtestutil database is only the way in: its role may create
	// databases, and it is not the one we drop.
	adminURL := dbtestutil.NewDB(t)
	admin, err := sql.Open("pgx", adminURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })

	var b [6]byte
	_, err = rand.Read(b[:])
	require.NoError(t, err)
	name := "empty_" + hex.EncodeToString(b[:])
	q := pgx.Identifier{name}.Sanitize()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+q+" TEMPLATE template0 ENCODING 'UTF8'")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)")
		require.NoError(t, err)
	})

	u, err := url.Parse(adminURL)
	require.NoError(t, err)
	u.Path = "/" + name
	db, err := sql.Open("pgx", u.String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db, u.String()
}

// schema describes the public schema: every column with its type and
// nullability, every index and constraint, and every enum value.
func schema(ctx context.Context, t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(ctx, `
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
		UNION ALL
		SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
		FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid <> 0 AND conrelid::regclass::text <> 'goose_db_version'
		UNION ALL
		SELECT 'enum ' || t.typname || ' ' || e.enumlabel
		FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typnamespace = 'public'::regnamespace
		UNION ALL
		SELECT 'function ' || p.proname FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
		ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func requireLatest(ctx context.Context, t *testing.T, db *sql.DB) int64 {
	t.Helper()
	current, latest, err := migrations.Version(ctx, db)
	require.NoError(t, err)
	require.Positive(t, latest)
	require.Equal(t, latest, current, "schema is not at the newest version")
	return latest
}

func TestUpFromEmpty(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, _ := emptyDB(ctx, t)

	require.NoError(t, migrations.Up(ctx, db))
	requireLatest(ctx, t, db)
	got := schema(ctx, t, db)
	require.Contains(t, got, "column users.username text NO ")
	// Up again is a no-op.
	require.NoError(t, migrations.Up(ctx, db))
	require.Equal(t, got, schema(ctx, t, db))
}

func TestDownAllThenUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, _ := emptyDB(ctx, t)

	require.NoError(t, migrations.Up(ctx, db))
	latest := requireLatest(ctx, t, db)
	want := schema(ctx, t, db)

	require.NoError(t, migrations.DownAll(ctx, db))
	current, gotLatest, err := migrations.Version(ctx, db)
	require.NoError(t, err)
	require.Zero(t, current)
	require.Equal(t, latest, gotLatest)
	require.Empty(t, schema(ctx, t, db), "every Down must undo its Up completely")

	require.NoError(t, migrations.Up(ctx, db))
	requireLatest(ctx, t, db)
	require.Equal(t, want, schema(ctx, t, db), "the schema after down and up again differs")
}

func TestConcurrentUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, dsn := emptyDB(ctx, t)

	// Separate pools, as separate coderd replicas would have.
	const replicas = 3
	dbs := make([]*sql.DB, replicas)
	for i := range dbs {
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		dbs[i] = db
	}
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make([]error, replicas)
	)
	for i, db := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = migrations.Up(ctx, db)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "replica %d", i)
	}
	requireLatest(ctx, t, dbs[0])

	// Same schema as a lone Up produces.
	ref, _ := emptyDB(ctx, t)
	require.NoError(t, migrations.Up(ctx, ref))
	require.Equal(t, schema(ctx, t, ref), schema(ctx, t, dbs[0]))
}

func TestFilesAreNumberedAndReversible(t *testing.T) {
	t.Parallel()
	entries, err := migrations.FS.ReadDir(".")
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	for i, e := range entries {
		name := e.Name()
		require.Regexp(t, `^\d{5}_[a-z0-9_]+\.sql$`, name)
		require.Equal(t, i+1, atoi(t, name[:5]), "%s: migrations must be numbered 1, 2, 3... without gaps", name)
		b, err := migrations.FS.ReadFile(name)
		require.NoError(t, err)
		require.Contains(t, string(b), "-- +goose Up", name)
		require.Contains(t, string(b), "-- +goose Down", name)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		require.True(t, c >= '0' && c <= '9')
		n = n*10 + int(c-'0')
	}
	return n
}
