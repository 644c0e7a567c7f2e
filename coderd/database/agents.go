package database

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// AgentContext is an agent with the workspace and build it belongs to.
type AgentContext struct {
	Agent     WorkspaceAgent
	Workspace Workspace
	Build     WorkspaceBuild
}

// GetAgentContext finds the workspace and build of an agent.
func (s *Store) GetAgentContext(ctx context.Context, agent WorkspaceAgent) (AgentContext, error) {
	b, err := scanBuild(s.db.QueryRow(ctx, `SELECT `+prefixed("b.", buildColumns)+` FROM workspace_builds b
		JOIN workspace_resources r ON r.job_id = b.job_id WHERE r.id = $1`, agent.ResourceID))
	if err != nil {
		return AgentContext{}, err
	}
	ws, err := s.GetWorkspaceByID(ctx, b.WorkspaceID)
	if err != nil {
		return AgentContext{}, err
	}
	return AgentContext{Agent: agent, Workspace: ws, Build: b}, nil
}

// UpdateAgentLifecycle records a lifecycle state and its timestamps.
func (s *Store) UpdateAgentLifecycle(ctx context.Context, id uuid.UUID, state string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE workspace_agents SET lifecycle_state = $2::agent_lifecycle_state, updated_at = now(),
		started_at = CASE WHEN $2::agent_lifecycle_state = 'starting' THEN $3 ELSE started_at END,
		ready_at = CASE WHEN $2::agent_lifecycle_state IN ('ready', 'start_timeout', 'start_error') THEN $3 ELSE ready_at END
		WHERE id = $1`, id, state, at)
	if err != nil {
		return fmt.Errorf("update lifecycle: %w", err)
	}
	return nil
}

// UpdateAgentStartup records version and environment.
func (s *Store) UpdateAgentStartup(ctx context.Context, id uuid.UUID, version, dir string, subsystems []string, apiVersion string) error {
	if subsystems == nil {
		subsystems = []string{}
	}
	_, err := s.db.Exec(ctx, `UPDATE workspace_agents SET version = $2, expanded_directory = $3, subsystems = $4, api_version = $5, updated_at = now() WHERE id = $1`,
		id, version, dir, subsystems, apiVersion)
	if err != nil {
		return fmt.Errorf("update startup: %w", err)
	}
	return nil
}

// UpdateAgentConnection records connect/disconnect times.
func (s *Store) UpdateAgentConnection(ctx context.Context, id uuid.UUID, connected bool, at time.Time) error {
	q := `UPDATE workspace_agents SET first_connected_at = COALESCE(first_connected_at, $2), last_connected_at = $2, updated_at = $2 WHERE id = $1`
	if !connected {
		q = `UPDATE workspace_agents SET disconnected_at = $2, updated_at = $2 WHERE id = $1`
	}
	if _, err := s.db.Exec(ctx, q, id, at); err != nil {
		return fmt.Errorf("update agent connection: %w", err)
	}
	return nil
}

// UpdateAgentReport stores the latest stats or listening ports.
func (s *Store) UpdateAgentReport(ctx context.Context, id uuid.UUID, column string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var q string
	switch column {
	case "last_stats":
		q = `UPDATE workspace_agents SET last_stats = $2 WHERE id = $1`
	case "listening_ports":
		q = `UPDATE workspace_agents SET listening_ports = $2 WHERE id = $1`
	default:
		return fmt.Errorf("unknown report column %q", column)
	}
	_, err = s.db.Exec(ctx, q, id, raw)
	return err
}

// GetAgentListeningPorts returns the last reported ports (JSON).
func (s *Store) GetAgentListeningPorts(ctx context.Context, id uuid.UUID) (json.RawMessage, error) {
	var raw json.RawMessage
	err := s.db.QueryRow(ctx, `SELECT listening_ports FROM workspace_agents WHERE id = $1`, id).Scan(&raw)
	return raw, notFound(err)
}

// AgentLog is a row of workspace_agent_logs.
type AgentLog struct {
	ID        int64
	CreatedAt time.Time
	Level     string
	Source    string
	Output    string
}

// InsertAgentLogs appends lines unless the agent's total would pass limit
// bytes; then it stores nothing more and marks the agent overflowed.
func (s *Store) InsertAgentLogs(ctx context.Context, agentID uuid.UUID, logs []AgentLog, limit int) (overflowed bool, err error) {
	size := 0
	for _, l := range logs {
		size += len(l.Output)
	}
	var newLen int
	err = s.db.QueryRow(ctx, `UPDATE workspace_agents SET logs_length = logs_length + $2,
		logs_overflowed = logs_overflowed OR logs_length + $2 > $3 WHERE id = $1 RETURNING logs_length`, agentID, size, limit).Scan(&newLen)
	if err != nil {
		return false, fmt.Errorf("account agent logs: %w", notFound(err))
	}
	if newLen > limit {
		return true, nil
	}
	for _, l := range logs {
		if _, err := s.db.Exec(ctx, `INSERT INTO workspace_agent_logs (agent_id, created_at, level, source, output) VALUES ($1, $2, $3, $4, $5)`,
			agentID, l.CreatedAt, l.Level, l.Source, l.Output); err != nil {
			return false, fmt.Errorf("insert agent log: %w", err)
		}
	}
	return false, nil
}

// GetAgentLogsAfter returns an agent's lines with ID > after.
func (s *Store) GetAgentLogsAfter(ctx context.Context, agentID uuid.UUID, after int64) ([]AgentLog, error) {
	rows, err := s.db.Query(ctx, `SELECT id, created_at, level, source, output FROM workspace_agent_logs WHERE agent_id = $1 AND id > $2 ORDER BY id LIMIT 10000`, agentID, after)
	if err != nil {
		return nil, fmt.Errorf("get agent logs: %w", err)
	}
	defer rows.Close()
	var out []AgentLog
	for rows.Next() {
		var l AgentLog
		if err := rows.Scan(&l.ID, &l.CreatedAt, &l.Level, &l.Source, &l.Output); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}
