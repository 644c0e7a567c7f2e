package database

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// File is a row of files.
type File struct {
	ID        uuid.UUID
	Hash      string
	CreatedBy uuid.UUID
	Mimetype  string
	Data      []byte
	CreatedAt time.Time
}

// InsertFileDeduplicated stores data unless a file with the same hash
// exists, and returns the stored row's ID either way.
func (s *Store) InsertFileDeduplicated(ctx context.Context, f File) (id uuid.UUID, created bool, err error) {
	err = s.db.QueryRow(ctx, `INSERT INTO files (id, hash, created_by, mimetype, data, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING RETURNING id`,
		f.ID, f.Hash, f.CreatedBy, f.Mimetype, f.Data, f.CreatedAt).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if notFound(err) != ErrNotFound {
		return uuid.Nil, false, fmt.Errorf("insert file: %w", err)
	}
	if err := s.db.QueryRow(ctx, `SELECT id FROM files WHERE hash = $1`, f.Hash).Scan(&id); err != nil {
		return uuid.Nil, false, fmt.Errorf("get existing file: %w", err)
	}
	return id, false, nil
}

// GetFileByID returns a file with its content.
func (s *Store) GetFileByID(ctx context.Context, id uuid.UUID) (File, error) {
	var f File
	err := s.db.QueryRow(ctx, `SELECT id, hash, created_by, mimetype, data, created_at FROM files WHERE id = $1`, id).
		Scan(&f.ID, &f.Hash, &f.CreatedBy, &f.Mimetype, &f.Data, &f.CreatedAt)
	return f, notFound(err)
}
