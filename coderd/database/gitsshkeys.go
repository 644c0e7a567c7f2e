package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// GitSSHKey is a row of gitsshkeys: a user's git SSH key pair. PrivateKey
// is a secret; only the agent and the provisioner job of the owner's
// workspaces ever receive it.
type GitSSHKey struct {
	UserID     uuid.UUID
	PrivateKey string
	PublicKey  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

const gitSSHKeyColumns = `user_id, private_key, public_key, created_at, updated_at`

func scanGitSSHKey(row pgx.Row) (GitSSHKey, error) {
	var k GitSSHKey
	err := row.Scan(&k.UserID, &k.PrivateKey, &k.PublicKey, &k.CreatedAt, &k.UpdatedAt)
	return k, notFound(err)
}

// GetGitSSHKey returns the user's key pair, or ErrNotFound when none was
// made yet.
func (s *Store) GetGitSSHKey(ctx context.Context, userID uuid.UUID) (GitSSHKey, error) {
	k, err := scanGitSSHKey(s.db.QueryRow(ctx, `SELECT `+gitSSHKeyColumns+` FROM gitsshkeys WHERE user_id = $1`, userID))
	if err != nil {
		return GitSSHKey{}, fmt.Errorf("get git ssh key: %w", err)
	}
	return k, nil
}

// InsertGitSSHKeyIfAbsent stores k unless the user already has a key, and
// returns the user's key either way: when two requests make a first key at
// once, both get the one that was stored first.
func (s *Store) InsertGitSSHKeyIfAbsent(ctx context.Context, k GitSSHKey) (GitSSHKey, error) {
	out, err := scanGitSSHKey(s.db.QueryRow(ctx, `INSERT INTO gitsshkeys (`+gitSSHKeyColumns+`) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (user_id) DO NOTHING RETURNING `+gitSSHKeyColumns, k.UserID, k.PrivateKey, k.PublicKey, k.CreatedAt))
	if errors.Is(err, ErrNotFound) {
		// Another request stored one first (committed, so visible now).
		return s.GetGitSSHKey(ctx, k.UserID)
	}
	if err != nil {
		return GitSSHKey{}, fmt.Errorf("insert git ssh key: %w", err)
	}
	return out, nil
}

// UpsertGitSSHKey replaces the user's key pair (or stores the first one),
// keeping created_at of an existing row and setting updated_at to
// k.UpdatedAt.
func (s *Store) UpsertGitSSHKey(ctx context.Context, k GitSSHKey) (GitSSHKey, error) {
	out, err := scanGitSSHKey(s.db.QueryRow(ctx, `INSERT INTO gitsshkeys (`+gitSSHKeyColumns+`) VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (user_id) DO UPDATE SET private_key = EXCLUDED.private_key, public_key = EXCLUDED.public_key, updated_at = EXCLUDED.updated_at
		RETURNING `+gitSSHKeyColumns, k.UserID, k.PrivateKey, k.PublicKey, k.UpdatedAt))
	if err != nil {
		return GitSSHKey{}, fmt.Errorf("upsert git ssh key: %w", err)
	}
	return out, nil
}
