package database

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ProvisionerKey is a row of provisioner_keys.
type ProvisionerKey struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	Name           string
	HashedSecret   []byte
	Tags           map[string]string
	CreatedAt      time.Time
}

// UniqueProvisionerKeyName keeps key names unique per organization.
const UniqueProvisionerKeyName = "provisioner_keys_name_idx"

const keyColumns = `id, organization_id, name, hashed_secret, tags, created_at`

func scanKey(row pgx.Row) (ProvisionerKey, error) {
	var k ProvisionerKey
	err := row.Scan(&k.ID, &k.OrganizationID, &k.Name, &k.HashedSecret, &k.Tags, &k.CreatedAt)
	return k, notFound(err)
}

// InsertProvisionerKey stores a key.
func (s *Store) InsertProvisionerKey(ctx context.Context, k ProvisionerKey) (ProvisionerKey, error) {
	if k.Tags == nil {
		k.Tags = map[string]string{}
	}
	return scanKey(s.db.QueryRow(ctx, `INSERT INTO provisioner_keys (id, organization_id, name, hashed_secret, tags, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+keyColumns, k.ID, k.OrganizationID, k.Name, k.HashedSecret, k.Tags, k.CreatedAt))
}

// GetProvisionerKeyByHashedSecret authenticates a daemon.
func (s *Store) GetProvisionerKeyByHashedSecret(ctx context.Context, hashed []byte) (ProvisionerKey, error) {
	return scanKey(s.db.QueryRow(ctx, `SELECT `+keyColumns+` FROM provisioner_keys WHERE hashed_secret = $1`, hashed))
}

// GetProvisionerKeyByName returns an organization's key.
func (s *Store) GetProvisionerKeyByName(ctx context.Context, orgID uuid.UUID, name string) (ProvisionerKey, error) {
	return scanKey(s.db.QueryRow(ctx, `SELECT `+keyColumns+` FROM provisioner_keys WHERE organization_id = $1 AND lower(name) = lower($2)`, orgID, name))
}

// ListProvisionerKeys lists an organization's keys by name.
func (s *Store) ListProvisionerKeys(ctx context.Context, orgID uuid.UUID) ([]ProvisionerKey, error) {
	rows, err := s.db.Query(ctx, `SELECT `+keyColumns+` FROM provisioner_keys WHERE organization_id = $1 ORDER BY lower(name)`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list provisioner keys: %w", err)
	}
	defer rows.Close()
	var out []ProvisionerKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteProvisionerKey removes a key; daemons using it stop authenticating.
func (s *Store) DeleteProvisionerKey(ctx context.Context, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM provisioner_keys WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete provisioner key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// ProvisionerDaemon is a row of provisioner_daemons plus its current job.
type ProvisionerDaemon struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	Name           string
	Provisioners   []string
	Tags           map[string]string
	KeyID          *uuid.UUID
	Version        string
	APIVersion     string
	CreatedAt      time.Time
	LastSeenAt     time.Time
	CurrentJobID   *uuid.UUID
}

// UpsertProvisionerDaemon registers a daemon or refreshes its last-seen time.
func (s *Store) UpsertProvisionerDaemon(ctx context.Context, d ProvisionerDaemon) error {
	if d.Tags == nil {
		d.Tags = map[string]string{}
	}
	_, err := s.db.Exec(ctx, `INSERT INTO provisioner_daemons (id, organization_id, name, provisioners, tags, key_id, version, api_version, created_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
		ON CONFLICT (id) DO UPDATE SET name = $3, provisioners = $4, tags = $5, key_id = $6, version = $7, api_version = $8, last_seen_at = $9`,
		d.ID, d.OrganizationID, d.Name, d.Provisioners, d.Tags, d.KeyID, d.Version, d.APIVersion, d.LastSeenAt)
	if err != nil {
		return fmt.Errorf("upsert provisioner daemon: %w", err)
	}
	return nil
}

// TouchProvisionerDaemon refreshes a daemon's last-seen time.
func (s *Store) TouchProvisionerDaemon(ctx context.Context, id uuid.UUID, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE provisioner_daemons SET last_seen_at = $2 WHERE id = $1`, id, now)
	return err
}

// ListProvisionerDaemons lists an organization's daemons seen since
// `since`, most recently seen first, each with the job it is running.
func (s *Store) ListProvisionerDaemons(ctx context.Context, orgID uuid.UUID, since time.Time) ([]ProvisionerDaemon, error) {
	rows, err := s.db.Query(ctx, `SELECT d.id, d.organization_id, d.name, d.provisioners, d.tags, d.key_id, d.version, d.api_version, d.created_at, d.last_seen_at,
			(SELECT j.id FROM provisioner_jobs j WHERE j.worker_id = d.id AND j.completed_at IS NULL ORDER BY j.started_at DESC LIMIT 1)
		FROM provisioner_daemons d WHERE d.organization_id = $1 AND d.last_seen_at >= $2 ORDER BY d.last_seen_at DESC, d.name`, orgID, since)
	if err != nil {
		return nil, fmt.Errorf("list provisioner daemons: %w", err)
	}
	defer rows.Close()
	var out []ProvisionerDaemon
	for rows.Next() {
		var d ProvisionerDaemon
		if err := rows.Scan(&d.ID, &d.OrganizationID, &d.Name, &d.Provisioners, &d.Tags, &d.KeyID, &d.Version, &d.APIVersion, &d.CreatedAt, &d.LastSeenAt, &d.CurrentJobID); err != nil {
			return nil, fmt.Errorf("scan provisioner daemon: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// GetProvisionerDaemonName names a worker for messages.
func (s *Store) GetProvisionerDaemonName(ctx context.Context, id uuid.UUID) (string, error) {
	var name string
	err := s.db.QueryRow(ctx, `SELECT name FROM provisioner_daemons WHERE id = $1`, id).Scan(&name)
	return name, notFound(err)
}
