package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// WorkspaceStatus summarises a workspace from its latest build.
type WorkspaceStatus string

// Workspace statuses, as in Coder.
const (
	WorkspaceStatusPending   WorkspaceStatus = "pending"
	WorkspaceStatusStarting  WorkspaceStatus = "starting"
	WorkspaceStatusRunning   WorkspaceStatus = "running"
	WorkspaceStatusStopping  WorkspaceStatus = "stopping"
	WorkspaceStatusStopped   WorkspaceStatus = "stopped"
	WorkspaceStatusFailed    WorkspaceStatus = "failed"
	WorkspaceStatusCanceling WorkspaceStatus = "canceling"
	WorkspaceStatusCanceled  WorkspaceStatus = "canceled"
	WorkspaceStatusDeleting  WorkspaceStatus = "deleting"
	WorkspaceStatusDeleted   WorkspaceStatus = "deleted"
)

// WorkspaceStatuses lists every status, for validating filters.
var WorkspaceStatuses = []WorkspaceStatus{
	WorkspaceStatusPending, WorkspaceStatusStarting, WorkspaceStatusRunning, WorkspaceStatusStopping,
	WorkspaceStatusStopped, WorkspaceStatusFailed, WorkspaceStatusCanceling, WorkspaceStatusCanceled,
	WorkspaceStatusDeleting, WorkspaceStatusDeleted,
}

// Workspace is a user's development environment made from a template.
type Workspace struct {
	ID                      uuid.UUID      `json:"id"`
	CreatedAt               time.Time      `json:"created_at"`
	UpdatedAt               time.Time      `json:"updated_at"`
	OwnerID                 uuid.UUID      `json:"owner_id"`
	OwnerName               string         `json:"owner_name"`
	OrganizationID          uuid.UUID      `json:"organization_id"`
	TemplateID              uuid.UUID      `json:"template_id"`
	TemplateName            string         `json:"template_name"`
	TemplateActiveVersionID uuid.UUID      `json:"template_active_version_id"`
	LatestBuild             WorkspaceBuild `json:"latest_build"`
	Outdated                bool           `json:"outdated"`
	Name                    string         `json:"name"`
	LastUsedAt              time.Time      `json:"last_used_at"`
	// TTLMillis is how long the workspace runs after a start before
	// autostop stops it; null when it runs until stopped by hand.
	TTLMillis *int64 `json:"ttl_ms"`
}

// CreateWorkspaceRequest makes a workspace and queues its first build.
type CreateWorkspaceRequest struct {
	TemplateID          uuid.UUID                 `json:"template_id,omitempty"`
	TemplateVersionID   uuid.UUID                 `json:"template_version_id,omitempty"`
	Name                string                    `json:"name"`
	RichParameterValues []WorkspaceBuildParameter `json:"rich_parameter_values,omitempty"`
	// TTLMillis is the workspace's autostop ttl; nil takes the template's
	// default_ttl_ms, 0 means no autostop.
	TTLMillis *int64 `json:"ttl_ms,omitempty"`
}

// WorkspacesResponse is a page of workspaces.
type WorkspacesResponse struct {
	Workspaces []Workspace `json:"workspaces"`
	Count      int         `json:"count"`
}

// WorkspaceFilter narrows Workspaces.
type WorkspaceFilter struct {
	// Owner is a username or "me"; empty lists every workspace the caller
	// may see.
	Owner    string
	Template string
	Name     string
	// Status keeps workspaces whose latest build has this status.
	Status WorkspaceStatus
	// Limit (at most 1000; 0 for all) and Offset select one page of the
	// matches; the response's Count is the number of all matches.
	Limit  int
	Offset int
}

// CreateUserWorkspace creates a workspace owned by user.
func (c *Client) CreateUserWorkspace(ctx context.Context, user string, req CreateWorkspaceRequest) (Workspace, error) {
	var out Workspace
	return out, c.do(ctx, http.MethodPost, "/api/v2/users/"+url.PathEscape(user)+"/workspaces", req, http.StatusCreated, &out)
}

// Workspaces lists workspaces.
func (c *Client) Workspaces(ctx context.Context, f WorkspaceFilter) (WorkspacesResponse, error) {
	var out WorkspacesResponse
	q := ""
	add := func(k, v string) {
		if v != "" {
			if q != "" {
				q += " "
			}
			q += k + ":" + v
		}
	}
	add("owner", f.Owner)
	add("template", f.Template)
	add("name", f.Name)
	add("status", string(f.Status))
	opts := []RequestOption{WithQueryParam("q", q)}
	if f.Limit > 0 {
		opts = append(opts, WithQueryParam("limit", strconv.Itoa(f.Limit)))
	}
	if f.Offset > 0 {
		opts = append(opts, WithQueryParam("offset", strconv.Itoa(f.Offset)))
	}
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaces", nil, http.StatusOK, &out, opts...)
}

// Workspace returns a workspace by ID.
func (c *Client) Workspace(ctx context.Context, id uuid.UUID) (Workspace, error) {
	var out Workspace
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaces/"+id.String(), nil, http.StatusOK, &out)
}

// WorkspaceByOwnerAndName finds a workspace by "owner/name".
func (c *Client) WorkspaceByOwnerAndName(ctx context.Context, owner, name string) (Workspace, error) {
	var out Workspace
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(owner)+"/workspace/"+url.PathEscape(name), nil, http.StatusOK, &out)
}
