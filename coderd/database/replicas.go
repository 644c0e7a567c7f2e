package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Replica is a row of replicas: one coderd process sharing this database.
type Replica struct {
	ID           uuid.UUID
	Hostname     string
	RelayAddress string
	RegionID     int32
	Version      string
	Error        string
	// DatabaseLatency is the replica's last heartbeat round trip.
	DatabaseLatency time.Duration
	StartedAt       time.Time
	UpdatedAt       time.Time
}

const replicaColumns = `id, hostname, relay_address, region_id, version, error, database_latency, started_at, updated_at`

func scanReplica(row pgx.Row, extra ...any) (Replica, error) {
	var r Replica
	var latencyMicros int32
	dest := append([]any{&r.ID, &r.Hostname, &r.RelayAddress, &r.RegionID, &r.Version, &r.Error, &latencyMicros, &r.StartedAt, &r.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	r.DatabaseLatency = time.Duration(latencyMicros) * time.Microsecond
	return r, notFound(err)
}

// HeartbeatReplica inserts r or refreshes it, stamping updated_at with the
// database's clock (and started_at too when r.StartedAt is zero). inserted
// reports that the row did not exist: the replica is new, or it was
// deleted while this process could not reach the database and has just
// come back.
func (s *Store) HeartbeatReplica(ctx context.Context, r Replica) (_ Replica, inserted bool, err error) {
	var started *time.Time
	if !r.StartedAt.IsZero() {
		started = &r.StartedAt
	}
	latency := min(r.DatabaseLatency.Microseconds(), 1<<31-1)
	out, err := scanReplica(s.db.QueryRow(ctx, `INSERT INTO replicas (id, hostname, relay_address, region_id, version, error, database_latency, started_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, now()), now())
		ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname, relay_address = EXCLUDED.relay_address, region_id = EXCLUDED.region_id,
			version = EXCLUDED.version, error = EXCLUDED.error, database_latency = EXCLUDED.database_latency, updated_at = now()
		RETURNING `+replicaColumns+`, xmax = 0`,
		r.ID, r.Hostname, r.RelayAddress, r.RegionID, r.Version, r.Error, int32(latency), started), &inserted)
	if err != nil {
		return Replica{}, false, fmt.Errorf("heartbeat replica: %w", err)
	}
	return out, inserted, nil
}

// ListLiveReplicas returns the replicas heard from within the last
// `within` (by the database's clock), oldest first.
func (s *Store) ListLiveReplicas(ctx context.Context, within time.Duration) ([]Replica, error) {
	rows, err := s.db.Query(ctx, `SELECT `+replicaColumns+` FROM replicas
		WHERE updated_at > now() - $1 * interval '1 microsecond' ORDER BY started_at, id`, within.Microseconds())
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		r, err := scanReplica(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteReplica removes a replica's row (a clean shutdown).
func (s *Store) DeleteReplica(ctx context.Context, id uuid.UUID) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM replicas WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete replica: %w", err)
	}
	return nil
}

// replicaCleanupLock is the advisory lock key of the dead-replica clean-up
// ("replclen" in ASCII).
const replicaCleanupLock int64 = 0x7265706c636c656e

// DeleteSilentReplicas deletes the rows of replicas not heard from for
// `silentFor` and returns their IDs. Only one caller at a time does the
// work: the others find the lock taken and return nothing at once, so any
// number of replicas may call it on every heartbeat without piling up.
func (s *Store) DeleteSilentReplicas(ctx context.Context, silentFor time.Duration) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.InTx(ctx, func(tx *Store) error {
		var locked bool
		if err := tx.db.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, replicaCleanupLock).Scan(&locked); err != nil {
			return fmt.Errorf("lock replica clean-up: %w", err)
		}
		if !locked {
			return nil
		}
		rows, err := tx.db.Query(ctx, `DELETE FROM replicas WHERE updated_at <= now() - $1 * interval '1 microsecond' RETURNING id`, silentFor.Microseconds())
		if err != nil {
			return fmt.Errorf("delete silent replicas: %w", err)
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("delete silent replicas: %w", err)
		}
		return nil
	})
	return ids, err
}

// SiteConfigDERPMeshKey names the DERP mesh key in site_configs.
const SiteConfigDERPMeshKey = "derp_mesh_key"

// EnsureDERPMeshKey returns the deployment's DERP mesh key, creating it on
// first use: 32 random bytes, hex encoded (the form tailscale's DERP server
// takes). Replicas starting at once agree on one key: the first insert
// wins and every caller reads the stored value back.
func (s *Store) EnsureDERPMeshKey(ctx context.Context) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate DERP mesh key: %w", err)
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO site_configs (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`,
		SiteConfigDERPMeshKey, hex.EncodeToString(b[:])); err != nil {
		return "", fmt.Errorf("store DERP mesh key: %w", err)
	}
	v, err := s.GetSiteConfig(ctx, SiteConfigDERPMeshKey)
	if errors.Is(err, ErrNotFound) {
		return "", errors.New("DERP mesh key vanished after it was stored")
	}
	if err != nil {
		return "", fmt.Errorf("read DERP mesh key: %w", err)
	}
	return v, nil
}
