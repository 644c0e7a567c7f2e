package database

import (
	"context"
	"errors"
	"net"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// lostConnError marks a network error that came out of one of this
// package's queries: the connection to PostgreSQL broke under it. pgconn
// wraps the errors of writes (they say whether a retry is safe) but hands
// back a read's error as is, so a connection reset while a query waits
// for its answer would otherwise look like anyone's network error, and
// IsUnavailable must not blame the database for those of other origins (a
// workspace agent out of reach).
type lostConnError struct{ err error }

func (e *lostConnError) Error() string { return e.err.Error() }
func (e *lostConnError) Unwrap() error { return e.err }

// markLost wraps err in lostConnError when it is a network error.
func markLost(err error) error {
	var netErr net.Error
	var marked *lostConnError
	if err == nil || errors.As(err, &marked) || !errors.As(err, &netErr) {
		return err
	}
	return &lostConnError{err: err}
}

// markedDB is a pool or transaction whose query errors pass markLost.
type markedDB struct{ db dbtx }

func (m markedDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := m.db.Exec(ctx, sql, args...)
	return tag, markLost(err)
}

func (m markedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := m.db.Query(ctx, sql, args...)
	if err != nil {
		return rows, markLost(err)
	}
	return markedRows{rows}, nil
}

func (m markedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return markedRow{m.db.QueryRow(ctx, sql, args...)}
}

type markedRow struct{ pgx.Row }

func (r markedRow) Scan(dest ...any) error { return markLost(r.Row.Scan(dest...)) }

// markedRows: a read that fails mid-result surfaces through Err (after
// Next returns false) or Scan.
type markedRows struct{ pgx.Rows }

func (r markedRows) Err() error             { return markLost(r.Rows.Err()) }
func (r markedRows) Scan(dest ...any) error { return markLost(r.Rows.Scan(dest...)) }
