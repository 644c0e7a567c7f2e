package scaletest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgCounters are PostgreSQL's cumulative statistics of one database: its
// transactions (xact_commit + xact_rollback of pg_stat_database) and, per
// table, scans plus rows written (pg_stat_user_tables), which say where
// the transactions went. The statistics lag: a backend flushes its
// counters when it goes idle, at most once a second, and one that stays
// idle after a burst flushes 10 s later (PostgreSQL 15's
// PGSTAT_IDLE_INTERVAL); so a window starts 11 s after a burst (the
// fleet's start-up) or it would count part of the burst.
type pgCounters struct {
	xacts  int64
	tables map[string]int64
}

func readPG(ctx context.Context, db *pgx.Conn) (pgCounters, error) {
	c := pgCounters{tables: map[string]int64{}}
	// A fresh snapshot: within a transaction the statistics are cached.
	if _, err := db.Exec(ctx, "SELECT pg_stat_clear_snapshot()"); err != nil {
		return c, fmt.Errorf("clear stats snapshot: %w", err)
	}
	if err := db.QueryRow(ctx, "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()").Scan(&c.xacts); err != nil {
		return c, fmt.Errorf("read pg_stat_database: %w", err)
	}
	rows, err := db.Query(ctx, `SELECT relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) + n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables`)
	if err != nil {
		return c, fmt.Errorf("read pg_stat_user_tables: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var n int64
		if err := rows.Scan(&name, &n); err != nil {
			return c, fmt.Errorf("read pg_stat_user_tables: %w", err)
		}
		c.tables[name] = n
	}
	return c, rows.Err()
}

// busiest lists the k tables with the most scans and writes from a to b.
func busiest(a, b pgCounters, k int) string {
	type row struct {
		name string
		n    int64
	}
	var rs []row
	for name, n := range b.tables {
		if d := n - a.tables[name]; d > 0 {
			rs = append(rs, row{name, d})
		}
	}
	slices.SortFunc(rs, func(x, y row) int { return int(y.n - x.n) })
	var parts []string
	for _, r := range rs[:min(k, len(rs))] {
		parts = append(parts, fmt.Sprintf("%s %d", r.name, r.n))
	}
	return strings.Join(parts, ", ")
}
