// Package database is coderd's only way into PostgreSQL: typed queries over a
// pgx pool, one file per entity, and the embedded schema migrations (in
// ./migrations).
//
// House rules: queries are plain SQL written here (no ORM); every method
// takes ctx first; "not found" is ErrNotFound and unique violations are
// detectable with IsUniqueViolation, so callers never match error text;
// authorization is not this package's job (coderd decides who may call what).
package database

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/opencoder/coder/coderd/database/migrations"
)

// ErrNotFound is returned when a query matches no row.
var ErrNotFound = errors.New("not found")

// dbtx is what both a pool and a transaction offer.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store runs queries against the pool, or inside a transaction (see InTx).
type Store struct {
	pool *pgxpool.Pool // nil inside a transaction
	db   dbtx
}

// Open connects to PostgreSQL at url, applies pending migrations (under the
// migration lock) and returns a Store.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", err)
	}
	if cfg.MaxConns < 10 {
		cfg.MaxConns = 10
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	sqlDB := stdlib.OpenDBFromPool(pool)
	err = migrations.Up(ctx, sqlDB)
	_ = sqlDB.Close()
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &Store{pool: pool, db: markedDB{pool}}, nil
}

// Close closes the pool. Calling it on a transaction's Store is a no-op.
func (s *Store) Close() {
	if s.pool != nil {
		s.pool.Close()
	}
}

// Pool exposes the underlying pool for LISTEN/NOTIFY and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.db.Exec(ctx, "SELECT 1")
	return err
}

// InTx runs fn in a transaction, committed when fn returns nil and rolled
// back otherwise. Nested calls reuse the outer transaction.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	if s.pool == nil {
		return fn(s)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", markLost(err))
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(&Store{db: markedDB{tx}}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", markLost(err))
	}
	return nil
}

// AdvisoryXactLock takes a transaction-scoped advisory lock; use inside InTx
// to serialise rare operations such as creating the first user.
func (s *Store) AdvisoryXactLock(ctx context.Context, key int64) error {
	_, err := s.db.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", key)
	if err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	return nil
}

// IsUniqueViolation reports whether err is a unique-constraint violation, of
// one of the named constraints/indexes when any are given.
func IsUniqueViolation(err error, constraints ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	if len(constraints) == 0 {
		return true
	}
	for _, c := range constraints {
		if pgErr.ConstraintName == c {
			return true
		}
	}
	return false
}

// notFound maps pgx's no-rows error to ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
