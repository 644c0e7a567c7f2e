package database

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The lookups in this file read many rows by ID in one query, for the
// API's list conversions: a list of N workspaces must cost a fixed number
// of queries, not N of each (the dashboard's workspace list with a
// thousand rows spent seconds in single-row lookups). Each returns the rows
// found keyed by ID; an ID without a row is simply absent, with the same
// meaning as ErrNotFound from the single-row Get.

// byIDs runs query (whose only parameter is $1, the IDs) and keys the rows
// by the ID key returns.
func byIDs[T any](ctx context.Context, s *Store, what, query string, ids []uuid.UUID, scan func(pgx.Row) (T, error), key func(T) uuid.UUID) (map[uuid.UUID]T, error) {
	out := make(map[uuid.UUID]T, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, query, ids)
	if err != nil {
		return nil, fmt.Errorf("get %s by ids: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", what, err)
		}
		out[key(v)] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get %s by ids: %w", what, err)
	}
	return out, nil
}

// GetUsersByIDs returns users that are not deleted (as GetUserByID).
func (s *Store) GetUsersByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]User, error) {
	return byIDs(ctx, s, "users", `SELECT `+userColumns+` FROM users WHERE id = ANY($1) AND NOT deleted`, ids, scanUser,
		func(u User) uuid.UUID { return u.ID })
}

// GetTemplatesByIDs returns templates that are not deleted (as
// GetTemplateByID).
func (s *Store) GetTemplatesByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Template, error) {
	return byIDs(ctx, s, "templates", `SELECT `+templateColumns+` FROM templates WHERE id = ANY($1) AND NOT deleted`, ids, scanTemplate,
		func(t Template) uuid.UUID { return t.ID })
}

// GetTemplateVersionsByIDs returns template versions, archived or not.
func (s *Store) GetTemplateVersionsByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]TemplateVersion, error) {
	return byIDs(ctx, s, "template versions", `SELECT `+versionColumns+` FROM template_versions WHERE id = ANY($1)`, ids, scanVersion,
		func(v TemplateVersion) uuid.UUID { return v.ID })
}

// GetWorkspacesByIDs returns workspaces, deleted or not (as
// GetWorkspaceByID).
func (s *Store) GetWorkspacesByIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Workspace, error) {
	return byIDs(ctx, s, "workspaces", `SELECT `+workspaceColumns+` FROM workspaces WHERE id = ANY($1)`, ids, scanWorkspace,
		func(w Workspace) uuid.UUID { return w.ID })
}
