package database

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The shared tailnet coordinator's tables (migration 00012): coordinators
// with heartbeats, the peers and tunnels each one holds. Package
// coderd/coordpg owns the protocol; these are only its queries. Every
// change is announced in the same transaction with NOTIFY on
// TailnetChannel, so a receiver that reads after the notification sees
// the change.

// TailnetChannel is the NOTIFY channel of the shared coordinator.
const TailnetChannel = "tailnet_coordinator"

// TailnetPeer is a row of tailnet_peers.
type TailnetPeer struct {
	ID            uuid.UUID
	CoordinatorID uuid.UUID
	IsAgent       bool
	// Node is the peer's node as JSON, nil before it published one.
	Node []byte
	// Lost: the peer's connection dropped without a goodbye, or its
	// coordinator died.
	Lost      bool
	UpdatedAt time.Time
}

// TailnetTunnel is a row of tailnet_tunnels: client SrcID's tunnel to
// agent DstID, held by CoordinatorID.
type TailnetTunnel struct {
	SrcID, DstID  uuid.UUID
	CoordinatorID uuid.UUID
}

// TailnetPeerState is one peer's current state for ApplyTailnetChanges.
type TailnetPeerState struct {
	ID      uuid.UUID
	IsAgent bool
	Node    []byte // JSON or nil
}

// TailnetChanges is one batch of a coordinator's changes to its own rows,
// applied in one transaction in this order: Upsert (status ok), Lost
// (status lost, node kept), Gone (rows deleted), then tunnels, then the
// notifications.
type TailnetChanges struct {
	Upsert        []TailnetPeerState
	Lost          []uuid.UUID
	Gone          []uuid.UUID
	AddTunnels    []TailnetTunnel // CoordinatorID ignored
	RemoveTunnels []TailnetTunnel // CoordinatorID ignored
	Notify        []string        // payloads for TailnetChannel
}

func microseconds(d time.Duration) int64 { return d.Microseconds() }

// RegisterTailnetCoordinator inserts coordinator id with a fresh heartbeat.
func (s *Store) RegisterTailnetCoordinator(ctx context.Context, id uuid.UUID) error {
	_, err := s.db.Exec(ctx, `INSERT INTO tailnet_coordinators (id, heartbeat_at) VALUES ($1, now())
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`, id)
	if err != nil {
		return fmt.Errorf("register tailnet coordinator: %w", err)
	}
	return nil
}

// HeartbeatTailnetCoordinator refreshes id's heartbeat. alive is false when
// the row is gone: other replicas found it dead and cleaned it up.
func (s *Store) HeartbeatTailnetCoordinator(ctx context.Context, id uuid.UUID) (alive bool, err error) {
	tag, err := s.db.Exec(ctx, `UPDATE tailnet_coordinators SET heartbeat_at = now() WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("heartbeat tailnet coordinator: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ApplyTailnetChanges writes a batch of coordinator coord's changes and
// its notifications. alive is false (and nothing is written) when coord's
// row is gone; the coordinator row is share-locked meanwhile, so a
// concurrent clean-up either waits for the batch (and then marks its peers
// lost) or has already removed coord.
func (s *Store) ApplyTailnetChanges(ctx context.Context, coord uuid.UUID, ch TailnetChanges) (alive bool, err error) {
	err = s.InTx(ctx, func(tx *Store) error {
		var one int
		err := tx.db.QueryRow(ctx, `SELECT 1 FROM tailnet_coordinators WHERE id = $1 FOR SHARE`, coord).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock tailnet coordinator: %w", err)
		}
		alive = true
		return tx.applyTailnetChanges(ctx, coord, ch)
	})
	if err != nil {
		return false, fmt.Errorf("apply tailnet changes: %w", err)
	}
	return alive, nil
}

func (s *Store) applyTailnetChanges(ctx context.Context, coord uuid.UUID, ch TailnetChanges) error {
	if len(ch.Upsert) > 0 {
		ids := make([]uuid.UUID, len(ch.Upsert))
		agents := make([]bool, len(ch.Upsert))
		nodes := make([]*string, len(ch.Upsert))
		for i, p := range ch.Upsert {
			ids[i], agents[i] = p.ID, p.IsAgent
			if p.Node != nil {
				n := string(p.Node)
				nodes[i] = &n
			}
		}
		if _, err := s.db.Exec(ctx, `INSERT INTO tailnet_peers (id, coordinator_id, is_agent, node, status, updated_at)
			SELECT u.id, $1, u.is_agent, u.node::jsonb, 'ok', clock_timestamp()
			FROM unnest($2::uuid[], $3::boolean[], $4::text[]) AS u(id, is_agent, node)
			ON CONFLICT (id, coordinator_id) DO UPDATE SET is_agent = EXCLUDED.is_agent, node = EXCLUDED.node,
				status = 'ok', updated_at = EXCLUDED.updated_at`, coord, ids, agents, nodes); err != nil {
			return fmt.Errorf("upsert peers: %w", err)
		}
	}
	if len(ch.Lost) > 0 {
		if _, err := s.db.Exec(ctx, `UPDATE tailnet_peers SET status = 'lost', updated_at = clock_timestamp()
			WHERE coordinator_id = $1 AND id = ANY($2)`, coord, ch.Lost); err != nil {
			return fmt.Errorf("mark peers lost: %w", err)
		}
	}
	if len(ch.Gone) > 0 {
		if _, err := s.db.Exec(ctx, `DELETE FROM tailnet_peers WHERE coordinator_id = $1 AND id = ANY($2)`, coord, ch.Gone); err != nil {
			return fmt.Errorf("delete peers: %w", err)
		}
	}
	tunnelArrays := func(ts []TailnetTunnel) (src, dst []uuid.UUID) {
		for _, t := range ts {
			src, dst = append(src, t.SrcID), append(dst, t.DstID)
		}
		return src, dst
	}
	if len(ch.AddTunnels) > 0 {
		src, dst := tunnelArrays(ch.AddTunnels)
		if _, err := s.db.Exec(ctx, `INSERT INTO tailnet_tunnels (src_id, dst_id, coordinator_id, updated_at)
			SELECT u.src, u.dst, $1, now() FROM unnest($2::uuid[], $3::uuid[]) AS u(src, dst)
			ON CONFLICT (src_id, dst_id, coordinator_id) DO UPDATE SET updated_at = now()`, coord, src, dst); err != nil {
			return fmt.Errorf("insert tunnels: %w", err)
		}
	}
	if len(ch.RemoveTunnels) > 0 {
		src, dst := tunnelArrays(ch.RemoveTunnels)
		if _, err := s.db.Exec(ctx, `DELETE FROM tailnet_tunnels t USING unnest($2::uuid[], $3::uuid[]) AS u(src, dst)
			WHERE t.coordinator_id = $1 AND t.src_id = u.src AND t.dst_id = u.dst`, coord, src, dst); err != nil {
			return fmt.Errorf("delete tunnels: %w", err)
		}
	}
	return s.notifyTailnet(ctx, ch.Notify)
}

func (s *Store) notifyTailnet(ctx context.Context, payloads []string) error {
	if len(payloads) == 0 {
		return nil
	}
	// unnest yields the payloads in order, so receivers see the batch's
	// order (peers before tunnels).
	if _, err := s.db.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`,
		TailnetChannel, payloads); err != nil {
		return fmt.Errorf("notify %s: %w", TailnetChannel, err)
	}
	return nil
}

// DeleteDeadTailnetCoordinators removes every coordinator silent for longer
// than deadAfter (by the database's clock), with its tunnels, marks its
// peers lost, and notifies payload(id) for each, all in one transaction.
// Concurrent callers each get a disjoint set of ids: a dead coordinator is
// cleaned up once.
func (s *Store) DeleteDeadTailnetCoordinators(ctx context.Context, deadAfter time.Duration, payload func(uuid.UUID) string) ([]uuid.UUID, error) {
	return s.deleteTailnetCoordinators(ctx, `DELETE FROM tailnet_coordinators
		WHERE heartbeat_at < now() - $1 * interval '1 microsecond' RETURNING id`, payload, microseconds(deadAfter))
}

// DeleteTailnetCoordinator removes coordinator id as a dead one is removed
// (its peers lost, its tunnels gone, payload(id) notified): a clean
// shutdown, or a coordinator giving up its rows after losing the database.
func (s *Store) DeleteTailnetCoordinator(ctx context.Context, id uuid.UUID, payload func(uuid.UUID) string) error {
	_, err := s.deleteTailnetCoordinators(ctx, `DELETE FROM tailnet_coordinators WHERE id = $1 RETURNING id`, payload, id)
	return err
}

func (s *Store) deleteTailnetCoordinators(ctx context.Context, query string, payload func(uuid.UUID) string, arg any) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.InTx(ctx, func(tx *Store) error {
		rows, err := tx.db.Query(ctx, query, arg)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		// Rows written concurrently under the coordinator's share lock
		// are committed by now (the DELETE waited for them).
		if _, err := tx.db.Exec(ctx, `UPDATE tailnet_peers SET status = 'lost', updated_at = clock_timestamp()
			WHERE coordinator_id = ANY($1) AND status = 'ok'`, ids); err != nil {
			return err
		}
		payloads := make([]string, len(ids))
		for i, id := range ids {
			payloads[i] = payload(id)
		}
		return tx.notifyTailnet(ctx, payloads)
	})
	if err != nil {
		return nil, fmt.Errorf("delete tailnet coordinators: %w", err)
	}
	return ids, nil
}

// DeleteLostTailnetPeers deletes lost peers older than olderThan; they only
// served to tell partners "lost" rather than "disconnected".
func (s *Store) DeleteLostTailnetPeers(ctx context.Context, olderThan time.Duration) (int64, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM tailnet_peers
		WHERE status = 'lost' AND updated_at < now() - $1 * interval '1 microsecond'`, microseconds(olderThan))
	if err != nil {
		return 0, fmt.Errorf("delete lost tailnet peers: %w", err)
	}
	return tag.RowsAffected(), nil
}

// GetTailnetPeers returns the rows of the given peers held by coordinators
// other than exclude.
func (s *Store) GetTailnetPeers(ctx context.Context, ids []uuid.UUID, exclude uuid.UUID) ([]TailnetPeer, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, `SELECT id, coordinator_id, is_agent, node::text, status = 'lost', updated_at
		FROM tailnet_peers WHERE id = ANY($1) AND coordinator_id <> $2`, ids, exclude)
	if err != nil {
		return nil, fmt.Errorf("get tailnet peers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TailnetPeer, error) {
		var p TailnetPeer
		var node *string
		err := row.Scan(&p.ID, &p.CoordinatorID, &p.IsAgent, &node, &p.Lost, &p.UpdatedAt)
		if node != nil {
			p.Node = []byte(*node)
		}
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("get tailnet peers: %w", err)
	}
	return out, nil
}

// GetTailnetTunnelsTo returns the tunnels to the given agents held by
// coordinators other than exclude.
func (s *Store) GetTailnetTunnelsTo(ctx context.Context, agents []uuid.UUID, exclude uuid.UUID) ([]TailnetTunnel, error) {
	if len(agents) == 0 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, `SELECT src_id, dst_id, coordinator_id FROM tailnet_tunnels
		WHERE dst_id = ANY($1) AND coordinator_id <> $2`, agents, exclude)
	if err != nil {
		return nil, fmt.Errorf("get tailnet tunnels: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (TailnetTunnel, error) {
		var t TailnetTunnel
		return t, row.Scan(&t.SrcID, &t.DstID, &t.CoordinatorID)
	})
	if err != nil {
		return nil, fmt.Errorf("get tailnet tunnels: %w", err)
	}
	return out, nil
}

// TailnetAgentConnected reports whether agent is connected (status ok)
// through a coordinator other than exclude.
func (s *Store) TailnetAgentConnected(ctx context.Context, agent, exclude uuid.UUID) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tailnet_peers
		WHERE id = $1 AND coordinator_id <> $2 AND is_agent AND status = 'ok')`, agent, exclude).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("tailnet agent connected: %w", err)
	}
	return ok, nil
}

// TailnetRowCounts counts the rows a coordinator holds (peers by status,
// tunnels); for tests and diagnostics.
func (s *Store) TailnetRowCounts(ctx context.Context, coord uuid.UUID) (ok, lost, tunnels int, err error) {
	err = s.db.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM tailnet_peers WHERE coordinator_id = $1 AND status = 'ok'),
		(SELECT count(*) FROM tailnet_peers WHERE coordinator_id = $1 AND status = 'lost'),
		(SELECT count(*) FROM tailnet_tunnels WHERE coordinator_id = $1)`, coord).Scan(&ok, &lost, &tunnels)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("count tailnet rows: %w", err)
	}
	return ok, lost, tunnels, nil
}
