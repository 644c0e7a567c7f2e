// Package dbtestutil gives every test its own real PostgreSQL database,
// cloned in a fraction of a second from a template that has the schema
// migrated once.
//
// Per test process there is one PostgreSQL: the one named by
// CODER_TEST_POSTGRES_URL when set (the Makefile may start one for a whole
// run; its database in the URL is used for administration and must not be
// dropped), else a builtinpg cluster with durability off, started in a
// temporary directory on the first NewDB. On that server a template database,
// coder_template_<hash of the migration files>, is built once: under a
// PostgreSQL advisory lock, so test processes sharing a server do not race,
// and under a temporary name renamed on success, so a half-built template is
// never cloned. NewDB clones it (CREATE DATABASE ... TEMPLATE) and drops the
// clone when the test ends.
//
// A package that calls NewDB must route TestMain through Main, which stops
// the built-in server and removes its directory after the tests:
//
//	func TestMain(m *testing.M) { os.Exit(dbtestutil.Main(m)) }
//
// or through MainCheckLeaks, which then also fails the run if a goroutine
// outlived the tests (goleak).
//
// House rule: the per-process server is the package's only state (one
// unexported value, set up once); NewDB's signature, fixed for every test in
// the repository, leaves no other place for it.
package dbtestutil

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"go.uber.org/goleak"

	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/coderd/database/migrations"
)

// EnvPostgresURL names an existing server to use instead of starting one,
// e.g. postgres://postgres:pw@127.0.0.1:5432/postgres?sslmode=disable. The
// role needs CREATEDB; PostgreSQL 13 or newer.
const EnvPostgresURL = "CODER_TEST_POSTGRES_URL"

// Bounds for the slow, once-per-process work and for each clone or drop.
const (
	setupTimeout = 5 * time.Minute
	opTimeout    = time.Minute
)

// templateLockKey is the advisory lock held while a template is built
// ("coderdtt" in ASCII). Advisory locks are per database, so every process
// takes it in the administration database.
const templateLockKey int64 = 0x636f646572647474

// state is the one per-process server. The zero value is ready for use.
//
// mainCalled is atomic; once guards setup, after which the remaining fields
// are read-only until Main's close.
type state struct {
	mainCalled atomic.Bool
	once       sync.Once

	err      error  // setup failure, reported by every NewDB
	adminURL string // database used to create and drop the others
	admin    *sql.DB
	template string
	server   *builtinpg.Server
	tmpDir   string
}

var process state

// Main runs the tests, then stops the built-in PostgreSQL if NewDB started
// one and removes its directory. Call it from TestMain and pass its result
// to os.Exit.
func Main(m *testing.M) int {
	process.mainCalled.Store(true)
	code := m.Run()
	if err := process.close(); err != nil {
		fmt.Fprintln(os.Stderr, "dbtestutil:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// MainCheckLeaks is Main followed, when the tests passed, by a check that
// no goroutine outlived them (goleak.Find with opts; each ignore option a
// caller passes should say why that goroutine is not ours). Call it from
// TestMain instead of Main in packages that promise to join everything
// they start.
func MainCheckLeaks(m *testing.M, opts ...goleak.Option) int {
	code := Main(m)
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}

// NewDB creates an empty database with the current schema for this test and
// returns its URL; the database is dropped when the test ends. Safe to call
// from parallel tests.
func NewDB(t testing.TB) string {
	t.Helper()
	if !process.mainCalled.Load() {
		t.Fatal("dbtestutil: NewDB needs TestMain to call dbtestutil.Main: func TestMain(m *testing.M) { os.Exit(dbtestutil.Main(m)) }")
	}
	process.once.Do(process.setup)
	if process.err != nil {
		t.Fatalf("dbtestutil: %v", process.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	name, err := process.createDB(ctx)
	if err != nil {
		t.Fatalf("dbtestutil: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		defer cancel()
		if err := process.dropDB(ctx, name); err != nil {
			t.Errorf("dbtestutil: %v", err)
		}
	})
	u, err := withDatabase(process.adminURL, name)
	if err != nil {
		t.Fatalf("dbtestutil: %v", err)
	}
	return u
}

// setup connects to (or starts) the server and ensures the template; run
// once, its error is kept for every NewDB.
func (s *state) setup() {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	s.err = s.setupErr(ctx)
}

func (s *state) setupErr(ctx context.Context) error {
	s.adminURL = os.Getenv(EnvPostgresURL)
	if s.adminURL == "" {
		dir, err := os.MkdirTemp("", "coder-testpg-")
		if err != nil {
			return fmt.Errorf("create temp dir: %w", err)
		}
		s.tmpDir = dir
		srv, err := builtinpg.Start(ctx, builtinpg.Options{Dir: filepath.Join(dir, "pg"), Fast: true})
		if err != nil {
			return fmt.Errorf("start test PostgreSQL (or set %s): %w", EnvPostgresURL, err)
		}
		s.server = srv
		if s.adminURL, err = withDatabase(srv.URL(), "postgres"); err != nil {
			return err
		}
	}
	if _, err := withDatabase(s.adminURL, "x"); err != nil {
		return fmt.Errorf("%s must be a postgres:// URL: %w", EnvPostgresURL, err)
	}
	admin, err := sql.Open("pgx", s.adminURL)
	if err != nil {
		return fmt.Errorf("open admin database: %w", err)
	}
	s.admin = admin
	var version int
	if err := admin.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return fmt.Errorf("connect to test PostgreSQL: %w", err)
	}
	if version < 130000 {
		return fmt.Errorf("test PostgreSQL is version %d; need 13 or newer", version/10000)
	}
	// CREATE DATABASE keeps its default strategy: since PostgreSQL 15 that
	// is WAL_LOG, which measured no slower than FILE_COPY here and, unlike
	// it, takes no checkpoints that would serialize parallel tests.
	hash, err := migrationsHash()
	if err != nil {
		return err
	}
	s.template = "coder_template_" + hash[:16]
	return ensureTemplate(ctx, admin, s.adminURL, s.template)
}

// ensureTemplate builds the template database unless it exists.
func ensureTemplate(ctx context.Context, admin *sql.DB, adminURL, name string) error {
	if ok, err := databaseExists(ctx, admin, name); err != nil || ok {
		return err
	}
	conn, err := admin.Conn(ctx)
	if err != nil {
		return fmt.Errorf("template lock connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return fmt.Errorf("take template lock: %w", err)
	}
	defer func() {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey)
	}()
	// Another process may have built it while we waited.
	if ok, err := databaseExists(ctx, admin, name); err != nil || ok {
		return err
	}

	building := name + "_building"
	q := pgx.Identifier{building}.Sanitize()
	// A leftover from a process that died mid-build.
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+q+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop half-built template: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+q+" TEMPLATE template0 ENCODING 'UTF8'"); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	u, err := withDatabase(adminURL, building)
	if err != nil {
		return err
	}
	db, err := sql.Open("pgx", u)
	if err != nil {
		return fmt.Errorf("open template: %w", err)
	}
	err = migrations.Up(ctx, db)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close template connection: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	// No connections from now on: cloning requires that nobody is
	// connected to the source, and tests must not edit it by mistake.
	final := pgx.Identifier{name}.Sanitize()
	for _, stmt := range []string{
		"ALTER DATABASE " + q + " WITH ALLOW_CONNECTIONS false",
		"ALTER DATABASE " + q + " RENAME TO " + final,
		"ALTER DATABASE " + final + " WITH IS_TEMPLATE true",
	} {
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("seal template: %w", err)
		}
	}
	return nil
}

func databaseExists(ctx context.Context, db *sql.DB, name string) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return ok, nil
}

// createDB clones the template under a fresh random name.
func (s *state) createDB(ctx context.Context) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	name := "test_" + hex.EncodeToString(b[:])
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() +
		" TEMPLATE " + pgx.Identifier{s.template}.Sanitize()
	if _, err := s.admin.ExecContext(ctx, stmt); err != nil {
		return "", fmt.Errorf("create test database: %w", err)
	}
	return name, nil
}

// dropDB drops a test database, disconnecting whoever still uses it.
func (s *state) dropDB(ctx context.Context, name string) error {
	if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop test database %s: %w", name, err)
	}
	return nil
}

// close releases what setup acquired.
func (s *state) close() error {
	var errs []error
	if s.admin != nil {
		errs = append(errs, s.admin.Close())
	}
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		errs = append(errs, s.server.Stop(ctx))
		cancel()
	}
	if s.tmpDir != "" {
		errs = append(errs, os.RemoveAll(s.tmpDir))
	}
	return errors.Join(errs...)
}

// migrationsHash fingerprints the migration files (names and contents), so a
// changed schema gets a new template.
func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		for _, part := range [][]byte{[]byte(path), b} {
			_ = binary.Write(h, binary.BigEndian, uint64(len(part)))
			h.Write(part)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// withDatabase returns u pointing at database name.
func withDatabase(u, name string) (string, error) {
	parsed, err := url.Parse(u)
	if err != nil {
		// Not %w: url.Error quotes the URL, password included.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("parse database URL: %v", err)
	}
	if parsed.Scheme != "postgres" && parsed.Scheme != "postgresql" {
		return "", fmt.Errorf("database URL scheme %q is not postgres", parsed.Scheme)
	}
	parsed.Path = "/" + name
	parsed.RawPath = ""
	return parsed.String(), nil
}
