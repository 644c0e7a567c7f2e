package database

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultConnectTimeout bounds opening one connection when the URL sets no
// connect_timeout: with PostgreSQL out of reach (a partition that drops
// packets rather than refusing them) a request then fails in seconds,
// with a 503 (see IsUnavailable), instead of hanging for as long as its
// client waits.
const DefaultConnectTimeout = 5 * time.Second

// IsUnavailable reports whether err means PostgreSQL could not be reached
// or dropped the connection (stopped, restarting, partitioned away), as
// opposed to a query that failed on a healthy database. The answer to such
// a request is "try again shortly" (503), not "bug" (500): the pool
// reconnects by itself once the database answers again.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case len(pgErr.Code) == 5 && pgErr.Code[:2] == "08": // connection_exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			// admin_shutdown, crash_shutdown, cannot_connect_now (starting
			// up or shutting down).
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var lost *lostConnError
	if errors.As(err, &connectErr) || errors.Is(err, pgconn.ErrConnClosed) || errors.As(err, &lost) {
		return true
	}
	// A connection cut in the middle of a query: pgconn returns the bare
	// unexpected EOF of its reader (nothing else in coderd's request paths
	// produces one: request bodies are decoded by httpapi.Read, which
	// answers 4xx), or a network error wrapped in one of its own errors
	// (they all say whether a retry is safe). Requiring that wrapper for
	// network errors keeps those of other origins (a workspace agent out of
	// reach) from being blamed on the database.
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var fromPgconn interface{ SafeToRetry() bool }
	if !errors.As(err, &fromPgconn) {
		return false
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
