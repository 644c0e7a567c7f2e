package codersdk

import (
	"context"
	"net/http"
)

// PostWorkspaceAppHealthsRequest is what the agent reports after probing
// its apps' health checks: the apps whose health changed since its last
// report, keyed by app slug (an app's slug is unique within its agent and
// is what the agent's manifest names apps by). Only apps with a health
// check may be reported, and only as initializing, healthy or unhealthy;
// disabled is what coderd shows for apps without a check.
type PostWorkspaceAppHealthsRequest struct {
	Healths map[string]WorkspaceAppHealth `json:"healths"`
}

// ReportableAppHealth says whether an agent may report h for an app with a
// health check.
func ReportableAppHealth(h WorkspaceAppHealth) bool {
	switch h {
	case WorkspaceAppHealthInitializing, WorkspaceAppHealthHealthy, WorkspaceAppHealthUnhealthy:
		return true
	}
	return false
}

// PostWorkspaceAppHealth reports app health changes (agent token).
func (c *Client) PostWorkspaceAppHealth(ctx context.Context, req PostWorkspaceAppHealthsRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/app-health", req, http.StatusNoContent, nil)
}
