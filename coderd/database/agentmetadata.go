package database

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ChannelAgentMetadata is the pubsub channel told when an agent's metadata
// results change (the payload is empty: watchers re-read the rows), so a
// watcher on any coderd replica sees a report made to another.
func ChannelAgentMetadata(agentID uuid.UUID) string {
	return "workspace_agent_metadata_" + agentID.String()
}

// AgentMetadataResult is a row of workspace_agent_metadata.
type AgentMetadataResult struct {
	Key         string
	Value       string
	Error       string
	CollectedAt time.Time
}

// UpsertAgentMetadata stores the latest results of some of an agent's
// metadata keys in one statement.
func (s *Store) UpsertAgentMetadata(ctx context.Context, agentID uuid.UUID, results []AgentMetadataResult) error {
	if len(results) == 0 {
		return nil
	}
	keys := make([]string, len(results))
	values := make([]string, len(results))
	errs := make([]string, len(results))
	ats := make([]time.Time, len(results))
	for i, r := range results {
		keys[i], values[i], errs[i], ats[i] = r.Key, r.Value, r.Error, r.CollectedAt
	}
	_, err := s.db.Exec(ctx, `INSERT INTO workspace_agent_metadata (agent_id, key, value, error, collected_at)
		SELECT $1, u.key, u.value, u.error, u.collected_at
		FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(key, value, error, collected_at)
		ON CONFLICT (agent_id, key) DO UPDATE SET value = EXCLUDED.value, error = EXCLUDED.error, collected_at = EXCLUDED.collected_at`,
		agentID, keys, values, errs, ats)
	if err != nil {
		return fmt.Errorf("upsert agent metadata: %w", err)
	}
	return nil
}

// GetAgentMetadataByAgentIDs returns the stored metadata results of
// agents: agent ID -> key -> result. Keys never reported are absent.
func (s *Store) GetAgentMetadataByAgentIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]map[string]AgentMetadataResult, error) {
	out := map[uuid.UUID]map[string]AgentMetadataResult{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT agent_id, key, value, error, collected_at FROM workspace_agent_metadata WHERE agent_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("get agent metadata: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id uuid.UUID
			r  AgentMetadataResult
		)
		if err := rows.Scan(&id, &r.Key, &r.Value, &r.Error, &r.CollectedAt); err != nil {
			return nil, fmt.Errorf("scan agent metadata: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]AgentMetadataResult{}
		}
		out[id][r.Key] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get agent metadata: %w", err)
	}
	return out, nil
}
