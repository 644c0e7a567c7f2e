package database

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Workspace is a row of workspaces.
type Workspace struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	OwnerID        uuid.UUID
	TemplateID     uuid.UUID
	Name           string
	Deleted        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastUsedAt     time.Time
	// TTLMillis is how long the workspace runs after a start before the
	// lifecycle executor stops it; nil (or 0) means no autostop.
	TTLMillis *int64
}

// UniqueWorkspaceName keeps an owner's live workspace names unique.
const UniqueWorkspaceName = "workspaces_owner_name_idx"

const workspaceColumns = `id, organization_id, owner_id, template_id, name, deleted, created_at, updated_at, last_used_at, ttl_ms`

func scanWorkspace(row pgx.Row) (Workspace, error) {
	var w Workspace
	err := row.Scan(&w.ID, &w.OrganizationID, &w.OwnerID, &w.TemplateID, &w.Name, &w.Deleted, &w.CreatedAt, &w.UpdatedAt, &w.LastUsedAt, &w.TTLMillis)
	return w, notFound(err)
}

// InsertWorkspace creates a workspace.
func (s *Store) InsertWorkspace(ctx context.Context, w Workspace) (Workspace, error) {
	return scanWorkspace(s.db.QueryRow(ctx, `INSERT INTO workspaces (id, organization_id, owner_id, template_id, name, created_at, updated_at, last_used_at, ttl_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $6, $6, $7) RETURNING `+workspaceColumns, w.ID, w.OrganizationID, w.OwnerID, w.TemplateID, w.Name, w.CreatedAt, w.TTLMillis))
}

// GetWorkspaceByID returns a workspace, deleted or not.
func (s *Store) GetWorkspaceByID(ctx context.Context, id uuid.UUID) (Workspace, error) {
	return scanWorkspace(s.db.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE id = $1`, id))
}

// GetWorkspaceByOwnerAndName returns a live workspace.
func (s *Store) GetWorkspaceByOwnerAndName(ctx context.Context, ownerID uuid.UUID, name string) (Workspace, error) {
	return scanWorkspace(s.db.QueryRow(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE owner_id = $1 AND lower(name) = lower($2) AND NOT deleted`, ownerID, name))
}

// WorkspacesFilter narrows ListWorkspaces.
type WorkspacesFilter struct {
	OwnerID    uuid.UUID
	TemplateID uuid.UUID
	Name       string
	// OrgIDs, when set, limits to these organizations.
	OrgIDs []uuid.UUID
}

// ListWorkspaces lists live workspaces by owner (username) then name: the
// order the dashboard shows, so that its pages follow one another.
func (s *Store) ListWorkspaces(ctx context.Context, f WorkspacesFilter) ([]Workspace, error) {
	where := []string{"NOT deleted"}
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.OwnerID != uuid.Nil {
		add("owner_id = $%d", f.OwnerID)
	}
	if f.TemplateID != uuid.Nil {
		add("template_id = $%d", f.TemplateID)
	}
	if f.Name != "" {
		add("lower(name) LIKE $%d", "%"+escapeLike(strings.ToLower(f.Name))+"%")
	}
	if f.OrgIDs != nil {
		add("organization_id = ANY($%d)", f.OrgIDs)
	}
	rows, err := s.db.Query(ctx, `SELECT `+workspaceColumns+` FROM workspaces WHERE `+strings.Join(where, " AND ")+` ORDER BY (SELECT username FROM users WHERE users.id = owner_id) COLLATE "C", lower(name), id LIMIT 10000`, args...)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	defer rows.Close()
	var out []Workspace
	for rows.Next() {
		w, err := scanWorkspace(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// MarkWorkspaceDeleted soft-deletes a workspace after its delete build.
func (s *Store) MarkWorkspaceDeleted(ctx context.Context, id uuid.UUID, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE workspaces SET deleted = true, updated_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("mark workspace deleted: %w", err)
	}
	return nil
}

// WorkspaceBuild is a row of workspace_builds.
type WorkspaceBuild struct {
	ID                uuid.UUID
	WorkspaceID       uuid.UUID
	TemplateVersionID uuid.UUID
	BuildNumber       int32
	Transition        string
	InitiatorID       uuid.UUID
	Reason            string
	ProvisionerState  []byte
	JobID             uuid.UUID
	CreatedAt         time.Time
	UpdatedAt         time.Time
	// Deadline is when the lifecycle executor stops the workspace: set
	// when a start build succeeds and the workspace has a ttl, moved by
	// activity; nil otherwise.
	Deadline *time.Time
}

const buildColumns = `id, workspace_id, template_version_id, build_number, transition, initiator_id, reason, provisioner_state, job_id, created_at, updated_at, deadline`

func scanBuild(row pgx.Row) (WorkspaceBuild, error) {
	var b WorkspaceBuild
	err := row.Scan(&b.ID, &b.WorkspaceID, &b.TemplateVersionID, &b.BuildNumber, &b.Transition, &b.InitiatorID, &b.Reason, &b.ProvisionerState, &b.JobID, &b.CreatedAt, &b.UpdatedAt, &b.Deadline)
	return b, notFound(err)
}

// InsertWorkspaceBuild adds a build.
func (s *Store) InsertWorkspaceBuild(ctx context.Context, b WorkspaceBuild) (WorkspaceBuild, error) {
	return scanBuild(s.db.QueryRow(ctx, `INSERT INTO workspace_builds (id, workspace_id, template_version_id, build_number, transition, initiator_id, reason, provisioner_state, job_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING `+buildColumns,
		b.ID, b.WorkspaceID, b.TemplateVersionID, b.BuildNumber, b.Transition, b.InitiatorID, b.Reason, b.ProvisionerState, b.JobID, b.CreatedAt))
}

// GetWorkspaceBuildByID returns a build.
func (s *Store) GetWorkspaceBuildByID(ctx context.Context, id uuid.UUID) (WorkspaceBuild, error) {
	return scanBuild(s.db.QueryRow(ctx, `SELECT `+buildColumns+` FROM workspace_builds WHERE id = $1`, id))
}

// GetWorkspaceBuildByJobID returns the build a job runs.
func (s *Store) GetWorkspaceBuildByJobID(ctx context.Context, jobID uuid.UUID) (WorkspaceBuild, error) {
	return scanBuild(s.db.QueryRow(ctx, `SELECT `+buildColumns+` FROM workspace_builds WHERE job_id = $1`, jobID))
}

// GetLatestWorkspaceBuild returns a workspace's newest build.
func (s *Store) GetLatestWorkspaceBuild(ctx context.Context, workspaceID uuid.UUID) (WorkspaceBuild, error) {
	return scanBuild(s.db.QueryRow(ctx, `SELECT `+buildColumns+` FROM workspace_builds WHERE workspace_id = $1 ORDER BY build_number DESC LIMIT 1`, workspaceID))
}

// GetLatestWorkspaceBuilds returns the newest build of each workspace.
func (s *Store) GetLatestWorkspaceBuilds(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]WorkspaceBuild, error) {
	rows, err := s.db.Query(ctx, `SELECT DISTINCT ON (workspace_id) `+buildColumns+` FROM workspace_builds WHERE workspace_id = ANY($1) ORDER BY workspace_id, build_number DESC`, ids)
	if err != nil {
		return nil, fmt.Errorf("latest builds: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID]WorkspaceBuild{}
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, err
		}
		out[b.WorkspaceID] = b
	}
	return out, rows.Err()
}

// ListWorkspaceBuilds lists a workspace's builds, newest first.
func (s *Store) ListWorkspaceBuilds(ctx context.Context, workspaceID uuid.UUID) ([]WorkspaceBuild, error) {
	rows, err := s.db.Query(ctx, `SELECT `+buildColumns+` FROM workspace_builds WHERE workspace_id = $1 ORDER BY build_number DESC LIMIT 1000`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list builds: %w", err)
	}
	defer rows.Close()
	var out []WorkspaceBuild
	for rows.Next() {
		b, err := scanBuild(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// GetLastStateBefore returns the newest non-NULL state of a workspace's
// builds numbered below buildNumber (the last good state).
func (s *Store) GetLastStateBefore(ctx context.Context, workspaceID uuid.UUID, buildNumber int32) ([]byte, error) {
	var st []byte
	err := s.db.QueryRow(ctx, `SELECT provisioner_state FROM workspace_builds WHERE workspace_id = $1 AND build_number < $2 AND provisioner_state IS NOT NULL
		ORDER BY build_number DESC LIMIT 1`, workspaceID, buildNumber).Scan(&st)
	if notFound(err) == ErrNotFound {
		return nil, nil
	}
	return st, err
}

// UpdateWorkspaceBuildState stores a build's resulting Terraform state.
func (s *Store) UpdateWorkspaceBuildState(ctx context.Context, id uuid.UUID, state []byte, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE workspace_builds SET provisioner_state = $2, updated_at = $3 WHERE id = $1`, id, state, now)
	if err != nil {
		return fmt.Errorf("store build state: %w", err)
	}
	return nil
}

// WorkspaceBuildParameter is a row of workspace_build_parameters.
type WorkspaceBuildParameter struct {
	Name  string
	Value string
}

// InsertWorkspaceBuildParameters records a build's parameter values.
func (s *Store) InsertWorkspaceBuildParameters(ctx context.Context, buildID uuid.UUID, params []WorkspaceBuildParameter) error {
	for _, p := range params {
		if _, err := s.db.Exec(ctx, `INSERT INTO workspace_build_parameters (workspace_build_id, name, value) VALUES ($1, $2, $3)`, buildID, p.Name, p.Value); err != nil {
			return fmt.Errorf("insert build parameter %q: %w", p.Name, err)
		}
	}
	return nil
}

// GetWorkspaceBuildParameters returns a build's parameter values by name.
func (s *Store) GetWorkspaceBuildParameters(ctx context.Context, buildID uuid.UUID) ([]WorkspaceBuildParameter, error) {
	rows, err := s.db.Query(ctx, `SELECT name, value FROM workspace_build_parameters WHERE workspace_build_id = $1 ORDER BY name`, buildID)
	if err != nil {
		return nil, fmt.Errorf("get build parameters: %w", err)
	}
	defer rows.Close()
	var out []WorkspaceBuildParameter
	for rows.Next() {
		var p WorkspaceBuildParameter
		if err := rows.Scan(&p.Name, &p.Value); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetWorkspaceBuildByNumber returns a workspace's build by its number.
func (s *Store) GetWorkspaceBuildByNumber(ctx context.Context, workspaceID uuid.UUID, n int32) (WorkspaceBuild, error) {
	return scanBuild(s.db.QueryRow(ctx, `SELECT `+buildColumns+` FROM workspace_builds WHERE workspace_id = $1 AND build_number = $2`, workspaceID, n))
}
