package database

import (
	"context"
	"fmt"
	"strings"
)

// GetSiteConfig reads a deployment-wide setting; ErrNotFound when unset.
func (s *Store) GetSiteConfig(ctx context.Context, key string) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, `SELECT value FROM site_configs WHERE key = $1`, key).Scan(&v)
	return v, notFound(err)
}

// UpsertSiteConfig writes a deployment-wide setting.
func (s *Store) UpsertSiteConfig(ctx context.Context, key, value string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO site_configs (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2`, key, value)
	if err != nil {
		return fmt.Errorf("upsert site config %q: %w", key, err)
	}
	return nil
}

// prefixed qualifies each column of a comma-separated list with p.
func prefixed(p, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
