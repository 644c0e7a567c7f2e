package database

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// APIKey is a row of api_keys: a session (TokenName "") or a named token.
type APIKey struct {
	ID              string
	HashedSecret    []byte
	UserID          uuid.UUID
	LoginType       string
	TokenName       string
	Scope           string
	LifetimeSeconds int64
	ExpiresAt       time.Time
	LastUsed        time.Time
	IPAddress       *netip.Addr
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// UniqueAPIKeyTokenName is the index that keeps token names unique per user.
const UniqueAPIKeyTokenName = "api_keys_token_name_idx"

const apiKeyColumns = `id, hashed_secret, user_id, login_type, token_name, scope, lifetime_seconds, expires_at, last_used, ip_address, created_at, updated_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.HashedSecret, &k.UserID, &k.LoginType, &k.TokenName, &k.Scope, &k.LifetimeSeconds, &k.ExpiresAt, &k.LastUsed, &k.IPAddress, &k.CreatedAt, &k.UpdatedAt)
	return k, notFound(err)
}

// InsertAPIKey stores a key (its secret already hashed).
func (s *Store) InsertAPIKey(ctx context.Context, k APIKey) (APIKey, error) {
	row := s.db.QueryRow(ctx, `INSERT INTO api_keys (id, hashed_secret, user_id, login_type, token_name, scope, lifetime_seconds, expires_at, last_used, ip_address, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING `+apiKeyColumns,
		k.ID, k.HashedSecret, k.UserID, k.LoginType, k.TokenName, k.Scope, k.LifetimeSeconds, k.ExpiresAt, k.LastUsed, k.IPAddress, k.CreatedAt)
	out, err := scanAPIKey(row)
	if err != nil {
		return APIKey{}, fmt.Errorf("insert api key: %w", err)
	}
	return out, nil
}

// GetAPIKeyByID returns a key by its public ID.
func (s *Store) GetAPIKeyByID(ctx context.Context, id string) (APIKey, error) {
	return scanAPIKey(s.db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
}

// GetAPIKeyByName returns a user's named token.
func (s *Store) GetAPIKeyByName(ctx context.Context, userID uuid.UUID, name string) (APIKey, error) {
	return scanAPIKey(s.db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = $1 AND token_name = $2 AND token_name <> ''`, userID, name))
}

// GetAPIKeysByUserID lists a user's keys of one login type ("token" for
// named tokens), newest first.
func (s *Store) GetAPIKeysByUserID(ctx context.Context, userID uuid.UUID, loginType string) ([]APIKey, error) {
	rows, err := s.db.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE user_id = $1 AND login_type = $2 ORDER BY created_at DESC`, userID, loginType)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan api key: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// UpdateAPIKeyUsage records use and, for sessions, slides the expiry.
func (s *Store) UpdateAPIKeyUsage(ctx context.Context, id string, lastUsed, expiresAt time.Time, ip *netip.Addr) error {
	_, err := s.db.Exec(ctx, `UPDATE api_keys SET last_used = $2, expires_at = $3, ip_address = COALESCE($4, ip_address), updated_at = $2 WHERE id = $1`, id, lastUsed, expiresAt, ip)
	if err != nil {
		return fmt.Errorf("update api key usage: %w", err)
	}
	return nil
}

// DeleteAPIKey removes a key; ErrNotFound if none had that ID.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM api_keys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteAPIKeysByUserID removes every key of a user (on suspension).
func (s *Store) DeleteAPIKeysByUserID(ctx context.Context, userID uuid.UUID) error {
	_, err := s.db.Exec(ctx, `DELETE FROM api_keys WHERE user_id = $1`, userID)
	if err != nil {
		return fmt.Errorf("delete user api keys: %w", err)
	}
	return nil
}
