package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Template is a named, versioned Terraform project workspaces are made from.
type Template struct {
	ID               uuid.UUID `json:"id"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	OrganizationID   uuid.UUID `json:"organization_id"`
	OrganizationName string    `json:"organization_name"`
	Name             string    `json:"name"`
	DisplayName      string    `json:"display_name"`
	Provisioner      string    `json:"provisioner"`
	ActiveVersionID  uuid.UUID `json:"active_version_id"`
	// ActiveUserCount is the number of workspaces using the template.
	ActiveUserCount int       `json:"active_user_count"`
	Description     string    `json:"description"`
	Icon            string    `json:"icon"`
	CreatedByID     uuid.UUID `json:"created_by_id"`
	CreatedByName   string    `json:"created_by_name"`
	// RequireActiveVersion: members' workspaces start on the active
	// version only (a start moves them to it).
	RequireActiveVersion bool `json:"require_active_version"`
	// AllowUserCancelWorkspaceJobs: members may cancel their workspaces'
	// builds (template admins always may).
	AllowUserCancelWorkspaceJobs bool `json:"allow_user_cancel_workspace_jobs"`
	// DefaultTTLMillis is the autostop ttl new workspaces get (0: none).
	DefaultTTLMillis int64 `json:"default_ttl_ms"`
}

// UpdateTemplateMeta changes a template's settings; a nil field is left as
// it is.
type UpdateTemplateMeta struct {
	Name                         *string `json:"name,omitempty"`
	DisplayName                  *string `json:"display_name,omitempty"`
	Description                  *string `json:"description,omitempty"`
	Icon                         *string `json:"icon,omitempty"`
	RequireActiveVersion         *bool   `json:"require_active_version,omitempty"`
	AllowUserCancelWorkspaceJobs *bool   `json:"allow_user_cancel_workspace_jobs,omitempty"`
	// DefaultTTLMillis changes the autostop ttl new workspaces get (0:
	// none); existing workspaces keep theirs.
	DefaultTTLMillis *int64 `json:"default_ttl_ms,omitempty"`
}

// UpdateTemplateMeta changes a template's settings and returns it.
func (c *Client) UpdateTemplateMeta(ctx context.Context, template uuid.UUID, req UpdateTemplateMeta) (Template, error) {
	var out Template
	return out, c.do(ctx, http.MethodPatch, "/api/v2/templates/"+template.String(), req, http.StatusOK, &out)
}

// CreateTemplateRequest makes a template from an imported version.
type CreateTemplateRequest struct {
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name,omitempty"`
	Description string    `json:"description,omitempty"`
	Icon        string    `json:"icon,omitempty"`
	VersionID   uuid.UUID `json:"template_version_id"`
	// DefaultTTLMillis is the autostop ttl new workspaces get (0: none).
	DefaultTTLMillis int64 `json:"default_ttl_ms,omitempty"`
}

// UpdateActiveTemplateVersion promotes a version.
type UpdateActiveTemplateVersion struct {
	ID uuid.UUID `json:"id"`
}

// CreateTemplate creates a template in an organization.
func (c *Client) CreateTemplate(ctx context.Context, org uuid.UUID, req CreateTemplateRequest) (Template, error) {
	var out Template
	return out, c.do(ctx, http.MethodPost, "/api/v2/organizations/"+org.String()+"/templates", req, http.StatusCreated, &out)
}

// Templates lists an organization's templates.
func (c *Client) Templates(ctx context.Context, org uuid.UUID) ([]Template, error) {
	var out []Template
	return out, c.do(ctx, http.MethodGet, "/api/v2/organizations/"+org.String()+"/templates", nil, http.StatusOK, &out)
}

// TemplateByName finds a template in an organization.
func (c *Client) TemplateByName(ctx context.Context, org uuid.UUID, name string) (Template, error) {
	var out Template
	return out, c.do(ctx, http.MethodGet, "/api/v2/organizations/"+org.String()+"/templates/"+url.PathEscape(name), nil, http.StatusOK, &out)
}

// Template returns a template by ID.
func (c *Client) Template(ctx context.Context, id uuid.UUID) (Template, error) {
	var out Template
	return out, c.do(ctx, http.MethodGet, "/api/v2/templates/"+id.String(), nil, http.StatusOK, &out)
}

// DeleteTemplate deletes a template; refused (409) while workspaces use it.
func (c *Client) DeleteTemplate(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, http.MethodDelete, "/api/v2/templates/"+id.String(), nil, http.StatusOK, nil)
}

// UpdateActiveTemplateVersion makes a version the one new workspaces use.
func (c *Client) UpdateActiveTemplateVersion(ctx context.Context, template uuid.UUID, req UpdateActiveTemplateVersion) error {
	return c.do(ctx, http.MethodPatch, "/api/v2/templates/"+template.String()+"/versions", req, http.StatusOK, nil)
}

// TemplateVersionsByTemplate lists a template's versions, newest first.
func (c *Client) TemplateVersionsByTemplate(ctx context.Context, template uuid.UUID) ([]TemplateVersion, error) {
	var out []TemplateVersion
	return out, c.do(ctx, http.MethodGet, "/api/v2/templates/"+template.String()+"/versions", nil, http.StatusOK, &out)
}

// TemplateVersionsIncludingArchived lists every version of a template,
// archived ones too, newest first.
func (c *Client) TemplateVersionsIncludingArchived(ctx context.Context, template uuid.UUID) ([]TemplateVersion, error) {
	var out []TemplateVersion
	return out, c.do(ctx, http.MethodGet, "/api/v2/templates/"+template.String()+"/versions?include_archived=true", nil, http.StatusOK, &out)
}
