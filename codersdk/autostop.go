package codersdk

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Autostop bounds: a ttl (a workspace's ttl_ms or a template's
// default_ttl_ms) is 0/none, or between these.
const (
	MinTTL = time.Minute
	MaxTTL = 30 * 24 * time.Hour
)

// UpdateWorkspaceTTLRequest sets a workspace's autostop ttl; a nil or 0
// TTLMillis turns autostop off. The running build's deadline moves with it
// (its completion time + the new ttl).
type UpdateWorkspaceTTLRequest struct {
	TTLMillis *int64 `json:"ttl_ms"`
}

// UpdateWorkspaceTTL sets a workspace's autostop ttl.
func (c *Client) UpdateWorkspaceTTL(ctx context.Context, workspace uuid.UUID, req UpdateWorkspaceTTLRequest) error {
	return c.do(ctx, http.MethodPut, "/api/v2/workspaces/"+workspace.String()+"/ttl", req, http.StatusNoContent, nil)
}

// MinExtension is how far ahead an extended deadline must be at least.
const MinExtension = 30 * time.Minute

// PutExtendWorkspaceRequest moves a running workspace's next autostop to
// Deadline (at least MinExtension from now, at most MaxTTL).
type PutExtendWorkspaceRequest struct {
	Deadline time.Time `json:"deadline"`
}

// PutExtendWorkspace moves a running workspace's next autostop.
func (c *Client) PutExtendWorkspace(ctx context.Context, workspace uuid.UUID, req PutExtendWorkspaceRequest) error {
	return c.do(ctx, http.MethodPut, "/api/v2/workspaces/"+workspace.String()+"/extend", req, http.StatusOK, nil)
}
