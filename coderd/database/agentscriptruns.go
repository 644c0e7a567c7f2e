package database

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// AgentScriptRun is a row of workspace_agent_script_runs: the latest run
// of one script of an agent.
type AgentScriptRun struct {
	ScriptIndex int
	Stage       string
	Status      string
	ExitCode    int32
	StartedAt   time.Time
	EndedAt     time.Time
	ReportedAt  time.Time
}

// UpsertAgentScriptRun stores run as the latest of its script, replacing
// the one before.
func (s *Store) UpsertAgentScriptRun(ctx context.Context, agentID uuid.UUID, run AgentScriptRun) error {
	_, err := s.db.Exec(ctx, `INSERT INTO workspace_agent_script_runs (agent_id, script_index, stage, status, exit_code, started_at, ended_at, reported_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (agent_id, script_index) DO UPDATE SET stage = EXCLUDED.stage, status = EXCLUDED.status, exit_code = EXCLUDED.exit_code,
			started_at = EXCLUDED.started_at, ended_at = EXCLUDED.ended_at, reported_at = EXCLUDED.reported_at`,
		agentID, run.ScriptIndex, run.Stage, run.Status, run.ExitCode, run.StartedAt, run.EndedAt, run.ReportedAt)
	if err != nil {
		return fmt.Errorf("upsert agent script run: %w", err)
	}
	return nil
}

// GetAgentScriptRunsByAgentIDs returns the latest script runs of agents in
// one query: agent ID -> script index -> run. Scripts never reported are
// absent.
func (s *Store) GetAgentScriptRunsByAgentIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]map[int]AgentScriptRun, error) {
	out := map[uuid.UUID]map[int]AgentScriptRun{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT agent_id, script_index, stage, status, exit_code, started_at, ended_at, reported_at
		FROM workspace_agent_script_runs WHERE agent_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("get agent script runs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id uuid.UUID
			r  AgentScriptRun
		)
		if err := rows.Scan(&id, &r.ScriptIndex, &r.Stage, &r.Status, &r.ExitCode, &r.StartedAt, &r.EndedAt, &r.ReportedAt); err != nil {
			return nil, fmt.Errorf("scan agent script run: %w", err)
		}
		if out[id] == nil {
			out[id] = map[int]AgentScriptRun{}
		}
		out[id][r.ScriptIndex] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get agent script runs: %w", err)
	}
	return out, nil
}
