package database

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// UpsertAppHealths stores the latest health of some of an agent's apps,
// keyed by app slug, in one statement. The values must be
// workspace_app_health labels (coderd validates them first).
func (s *Store) UpsertAppHealths(ctx context.Context, agentID uuid.UUID, healths map[string]string, at time.Time) error {
	if len(healths) == 0 {
		return nil
	}
	slugs := make([]string, 0, len(healths))
	states := make([]string, 0, len(healths))
	for slug, h := range healths {
		slugs = append(slugs, slug)
		states = append(states, h)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO workspace_app_healths (agent_id, slug, health, updated_at)
		SELECT $1, u.slug, u.health::workspace_app_health, $4 FROM unnest($2::text[], $3::text[]) AS u(slug, health)
		ON CONFLICT (agent_id, slug) DO UPDATE SET health = EXCLUDED.health, updated_at = EXCLUDED.updated_at`,
		agentID, slugs, states, at)
	if err != nil {
		return fmt.Errorf("upsert app healths: %w", err)
	}
	return nil
}

// GetAppHealthsByAgentIDs returns the stored app healths of agents: agent
// ID -> app slug -> health. Agents (and apps) that never reported are
// absent.
func (s *Store) GetAppHealthsByAgentIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]map[string]string, error) {
	out := map[uuid.UUID]map[string]string{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT agent_id, slug, health::text FROM workspace_app_healths WHERE agent_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("get app healths: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id           uuid.UUID
			slug, health string
		)
		if err := rows.Scan(&id, &slug, &health); err != nil {
			return nil, fmt.Errorf("scan app health: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]string{}
		}
		out[id][slug] = health
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get app healths: %w", err)
	}
	return out, nil
}
