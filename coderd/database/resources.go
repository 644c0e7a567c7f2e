package database

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// WorkspaceResource is a row of workspace_resources.
type WorkspaceResource struct {
	ID         uuid.UUID
	JobID      uuid.UUID
	Transition string
	Type       string
	Name       string
	Hide       bool
	Icon       string
	DailyCost  int32
	Metadata   json.RawMessage
	CreatedAt  time.Time
}

// WorkspaceAgent is a row of workspace_agents.
type WorkspaceAgent struct {
	ID               uuid.UUID
	ResourceID       uuid.UUID
	Name             string
	HashedToken      []byte
	Auth             string
	OS               string
	Arch             string
	Directory        string
	Spec             json.RawMessage
	LifecycleState   string
	Version          string
	FirstConnectedAt *time.Time
	LastConnectedAt  *time.Time
	DisconnectedAt   *time.Time
	StartedAt        *time.Time
	ReadyAt          *time.Time
	LogsLength       int32
	LogsOverflowed   bool
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// InsertWorkspaceResource adds a resource of a job.
func (s *Store) InsertWorkspaceResource(ctx context.Context, r WorkspaceResource) error {
	if len(r.Metadata) == 0 {
		r.Metadata = json.RawMessage("[]")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO workspace_resources (id, job_id, transition, type, name, hide, icon, daily_cost, metadata, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, r.ID, r.JobID, r.Transition, r.Type, r.Name, r.Hide, r.Icon, r.DailyCost, r.Metadata, r.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert resource: %w", err)
	}
	return nil
}

// InsertWorkspaceAgent adds an agent to a resource.
func (s *Store) InsertWorkspaceAgent(ctx context.Context, a WorkspaceAgent) error {
	if len(a.Spec) == 0 {
		a.Spec = json.RawMessage("{}")
	}
	_, err := s.db.Exec(ctx, `INSERT INTO workspace_agents (id, resource_id, name, hashed_token, auth, os, arch, directory, spec, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`, a.ID, a.ResourceID, a.Name, a.HashedToken, a.Auth, a.OS, a.Arch, a.Directory, a.Spec, a.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert agent: %w", err)
	}
	return nil
}

// GetWorkspaceResourcesByJobIDs lists resources of jobs, by type and name.
func (s *Store) GetWorkspaceResourcesByJobIDs(ctx context.Context, jobIDs []uuid.UUID) ([]WorkspaceResource, error) {
	rows, err := s.db.Query(ctx, `SELECT id, job_id, transition, type, name, hide, icon, daily_cost, metadata, created_at
		FROM workspace_resources WHERE job_id = ANY($1) ORDER BY type, name`, jobIDs)
	if err != nil {
		return nil, fmt.Errorf("get resources: %w", err)
	}
	defer rows.Close()
	var out []WorkspaceResource
	for rows.Next() {
		var r WorkspaceResource
		if err := rows.Scan(&r.ID, &r.JobID, &r.Transition, &r.Type, &r.Name, &r.Hide, &r.Icon, &r.DailyCost, &r.Metadata, &r.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

const agentColumns = `id, resource_id, name, hashed_token, auth, os, arch, directory, spec, lifecycle_state, version, first_connected_at, last_connected_at, disconnected_at, started_at, ready_at, logs_length, logs_overflowed, created_at, updated_at`

func scanAgent(row interface{ Scan(...any) error }) (WorkspaceAgent, error) {
	var a WorkspaceAgent
	err := row.Scan(&a.ID, &a.ResourceID, &a.Name, &a.HashedToken, &a.Auth, &a.OS, &a.Arch, &a.Directory, &a.Spec, &a.LifecycleState, &a.Version,
		&a.FirstConnectedAt, &a.LastConnectedAt, &a.DisconnectedAt, &a.StartedAt, &a.ReadyAt, &a.LogsLength, &a.LogsOverflowed, &a.CreatedAt, &a.UpdatedAt)
	return a, notFound(err)
}

// GetWorkspaceAgentsByResourceIDs lists agents of resources, by name.
func (s *Store) GetWorkspaceAgentsByResourceIDs(ctx context.Context, ids []uuid.UUID) ([]WorkspaceAgent, error) {
	rows, err := s.db.Query(ctx, `SELECT `+agentColumns+` FROM workspace_agents WHERE resource_id = ANY($1) ORDER BY name`, ids)
	if err != nil {
		return nil, fmt.Errorf("get agents: %w", err)
	}
	defer rows.Close()
	var out []WorkspaceAgent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// GetWorkspaceAgentByHashedToken authenticates an agent.
func (s *Store) GetWorkspaceAgentByHashedToken(ctx context.Context, hashed []byte) (WorkspaceAgent, error) {
	return scanAgent(s.db.QueryRow(ctx, `SELECT `+agentColumns+` FROM workspace_agents WHERE hashed_token = $1`, hashed))
}

// GetWorkspaceAgentByID returns an agent.
func (s *Store) GetWorkspaceAgentByID(ctx context.Context, id uuid.UUID) (WorkspaceAgent, error) {
	return scanAgent(s.db.QueryRow(ctx, `SELECT `+agentColumns+` FROM workspace_agents WHERE id = $1`, id))
}
