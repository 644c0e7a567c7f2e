package database

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Template is a row of templates.
type Template struct {
	ID              uuid.UUID
	OrganizationID  uuid.UUID
	Name            string
	DisplayName     string
	Description     string
	Icon            string
	ActiveVersionID uuid.UUID
	CreatedBy       uuid.UUID
	Deleted         bool
	CreatedAt       time.Time
	UpdatedAt       time.Time
	// RequireActiveVersion starts members' workspaces on the active
	// version only.
	RequireActiveVersion bool
	// AllowUserCancelWorkspaceJobs lets members cancel their builds.
	AllowUserCancelWorkspaceJobs bool
	// DefaultTTLMillis is the ttl new workspaces get (0: no autostop).
	DefaultTTLMillis int64
}

// UniqueTemplateName keeps live template names unique per organization.
const UniqueTemplateName = "templates_name_idx"

const templateColumns = `id, organization_id, name, display_name, description, icon, active_version_id, created_by, deleted, created_at, updated_at, require_active_version, allow_user_cancel_workspace_jobs, default_ttl_ms`

func scanTemplate(row pgx.Row) (Template, error) {
	var t Template
	err := row.Scan(&t.ID, &t.OrganizationID, &t.Name, &t.DisplayName, &t.Description, &t.Icon, &t.ActiveVersionID, &t.CreatedBy, &t.Deleted, &t.CreatedAt, &t.UpdatedAt,
		&t.RequireActiveVersion, &t.AllowUserCancelWorkspaceJobs, &t.DefaultTTLMillis)
	return t, notFound(err)
}

// UpdateTemplateMeta stores a template's editable settings (name, display
// name, description, icon, the two policies) and returns the row.
func (s *Store) UpdateTemplateMeta(ctx context.Context, t Template, now time.Time) (Template, error) {
	return scanTemplate(s.db.QueryRow(ctx, `UPDATE templates SET name = $2, display_name = $3, description = $4, icon = $5,
		require_active_version = $6, allow_user_cancel_workspace_jobs = $7, updated_at = $8, default_ttl_ms = $9
		WHERE id = $1 AND NOT deleted RETURNING `+templateColumns,
		t.ID, t.Name, t.DisplayName, t.Description, t.Icon, t.RequireActiveVersion, t.AllowUserCancelWorkspaceJobs, now, t.DefaultTTLMillis))
}

// InsertTemplate creates a template.
func (s *Store) InsertTemplate(ctx context.Context, t Template) (Template, error) {
	return scanTemplate(s.db.QueryRow(ctx, `INSERT INTO templates (id, organization_id, name, display_name, description, icon, active_version_id, created_by, created_at, updated_at, default_ttl_ms)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING `+templateColumns,
		t.ID, t.OrganizationID, t.Name, t.DisplayName, t.Description, t.Icon, t.ActiveVersionID, t.CreatedBy, t.CreatedAt, t.DefaultTTLMillis))
}

// GetTemplateByID returns a template that is not deleted.
func (s *Store) GetTemplateByID(ctx context.Context, id uuid.UUID) (Template, error) {
	return scanTemplate(s.db.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE id = $1 AND NOT deleted`, id))
}

// GetTemplateByName returns a live template in an organization.
func (s *Store) GetTemplateByName(ctx context.Context, orgID uuid.UUID, name string) (Template, error) {
	return scanTemplate(s.db.QueryRow(ctx, `SELECT `+templateColumns+` FROM templates WHERE organization_id = $1 AND lower(name) = lower($2) AND NOT deleted`, orgID, name))
}

// ListTemplates lists an organization's live templates by name.
func (s *Store) ListTemplates(ctx context.Context, orgID uuid.UUID) ([]Template, error) {
	rows, err := s.db.Query(ctx, `SELECT `+templateColumns+` FROM templates WHERE organization_id = $1 AND NOT deleted ORDER BY lower(name)`, orgID)
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	defer rows.Close()
	var out []Template
	for rows.Next() {
		t, err := scanTemplate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// UpdateTemplateActiveVersion promotes a version.
func (s *Store) UpdateTemplateActiveVersion(ctx context.Context, id, versionID uuid.UUID, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE templates SET active_version_id = $2, updated_at = $3 WHERE id = $1`, id, versionID, now)
	if err != nil {
		return fmt.Errorf("update active version: %w", err)
	}
	return nil
}

// SoftDeleteTemplate marks a template deleted (its name becomes free).
func (s *Store) SoftDeleteTemplate(ctx context.Context, id uuid.UUID, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE templates SET deleted = true, updated_at = $2 WHERE id = $1`, id, now)
	if err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	return nil
}

// CountWorkspacesByTemplate counts live workspaces per template.
func (s *Store) CountWorkspacesByTemplate(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]int, error) {
	rows, err := s.db.Query(ctx, `SELECT template_id, count(*) FROM workspaces WHERE template_id = ANY($1) AND NOT deleted GROUP BY template_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("count workspaces: %w", err)
	}
	defer rows.Close()
	out := map[uuid.UUID]int{}
	for rows.Next() {
		var id uuid.UUID
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// TemplateVersion is a row of template_versions.
type TemplateVersion struct {
	ID             uuid.UUID
	TemplateID     *uuid.UUID
	OrganizationID uuid.UUID
	Name           string
	Message        string
	Readme         string
	JobID          uuid.UUID
	CreatedBy      uuid.UUID
	Archived       bool
	Parameters     json.RawMessage
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// UniqueTemplateVersionName keeps version names unique per template.
const UniqueTemplateVersionName = "template_versions_name_idx"

const versionColumns = `id, template_id, organization_id, name, message, readme, job_id, created_by, archived, parameters, created_at, updated_at`

func scanVersion(row pgx.Row) (TemplateVersion, error) {
	var v TemplateVersion
	err := row.Scan(&v.ID, &v.TemplateID, &v.OrganizationID, &v.Name, &v.Message, &v.Readme, &v.JobID, &v.CreatedBy, &v.Archived, &v.Parameters, &v.CreatedAt, &v.UpdatedAt)
	return v, notFound(err)
}

// InsertTemplateVersion creates a version.
func (s *Store) InsertTemplateVersion(ctx context.Context, v TemplateVersion) (TemplateVersion, error) {
	return scanVersion(s.db.QueryRow(ctx, `INSERT INTO template_versions (id, template_id, organization_id, name, message, job_id, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING `+versionColumns,
		v.ID, v.TemplateID, v.OrganizationID, v.Name, v.Message, v.JobID, v.CreatedBy, v.CreatedAt))
}

// GetTemplateVersionByID returns a version.
func (s *Store) GetTemplateVersionByID(ctx context.Context, id uuid.UUID) (TemplateVersion, error) {
	return scanVersion(s.db.QueryRow(ctx, `SELECT `+versionColumns+` FROM template_versions WHERE id = $1`, id))
}

// GetTemplateVersionByJobID returns the version an import job belongs to.
func (s *Store) GetTemplateVersionByJobID(ctx context.Context, jobID uuid.UUID) (TemplateVersion, error) {
	return scanVersion(s.db.QueryRow(ctx, `SELECT `+versionColumns+` FROM template_versions WHERE job_id = $1`, jobID))
}

// ListTemplateVersions lists a template's versions, newest first.
func (s *Store) ListTemplateVersions(ctx context.Context, templateID uuid.UUID, includeArchived bool) ([]TemplateVersion, error) {
	rows, err := s.db.Query(ctx, `SELECT `+versionColumns+` FROM template_versions WHERE template_id = $1 AND ($2 OR NOT archived) ORDER BY created_at DESC`, templateID, includeArchived)
	if err != nil {
		return nil, fmt.Errorf("list template versions: %w", err)
	}
	defer rows.Close()
	var out []TemplateVersion
	for rows.Next() {
		v, err := scanVersion(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// UpdateTemplateVersionImported records what a successful import found.
func (s *Store) UpdateTemplateVersionImported(ctx context.Context, id uuid.UUID, params json.RawMessage, readme string, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE template_versions SET parameters = $2, readme = $3, updated_at = $4 WHERE id = $1`, id, params, readme, now)
	if err != nil {
		return fmt.Errorf("record import: %w", err)
	}
	return nil
}

// SetTemplateVersionTemplate attaches a standalone version to a template.
func (s *Store) SetTemplateVersionTemplate(ctx context.Context, id, templateID uuid.UUID, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE template_versions SET template_id = $2, updated_at = $3 WHERE id = $1`, id, templateID, now)
	if err != nil {
		return fmt.Errorf("attach version: %w", err)
	}
	return nil
}

// ArchiveTemplateVersion hides a version.
func (s *Store) ArchiveTemplateVersion(ctx context.Context, id uuid.UUID, now time.Time) error {
	return s.SetTemplateVersionArchived(ctx, id, true, now)
}

// SetTemplateVersionArchived archives a version (hidden from lists and
// refused for new builds) or brings it back.
func (s *Store) SetTemplateVersionArchived(ctx context.Context, id uuid.UUID, archived bool, now time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE template_versions SET archived = $3, updated_at = $2 WHERE id = $1`, id, now, archived)
	if err != nil {
		return fmt.Errorf("set version archived=%t: %w", archived, err)
	}
	return nil
}
