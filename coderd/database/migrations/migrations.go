// Package migrations holds the database schema as numbered SQL files embedded
// in the binary, and applies them with goose.
//
// House rules: files are named NNNNN_what.sql with goose's `-- +goose Up` and
// `-- +goose Down` sections; a migration that has landed on main is never
// edited, only followed by a new one. Up takes a PostgreSQL session-level
// advisory lock, so any number of coderd replicas may start at once: one
// migrates, the others wait and then find nothing left to do.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// FS is the schema, exported so test helpers can hash it to key template
// databases.
//
//go:embed *.sql
var FS embed.FS

// lockID is the advisory lock key held while migrating ("coderdmg" in ASCII).
const lockID int64 = 0x636f646572646d67

// Up applies every pending migration under the migration lock.
func Up(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// Version reports the current schema version and the newest one this binary
// knows.
func Version(ctx context.Context, db *sql.DB) (current, latest int64, err error) {
	p, err := newProvider(db)
	if err != nil {
		return 0, 0, err
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return current, latest, nil
}

// DownAll reverts every migration; tests use it to prove each Down works.
func DownAll(ctx context.Context, db *sql.DB) error {
	p, err := newProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("revert migrations: %w", err)
	}
	return nil
}

func newProvider(db *sql.DB) (*goose.Provider, error) {
	// Poll the lock every second for up to ten minutes: a concurrent
	// migration of a large database may take a while.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(lockID), lock.WithLockTimeout(1, 600))
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}
