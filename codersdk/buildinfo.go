package codersdk

import (
	"context"
	"net/http"
)

// BuildInfoResponse describes the server build, so clients can detect
// version skew.
type BuildInfoResponse struct {
	ExternalURL  string `json:"external_url"`
	Version      string `json:"version"`
	DashboardURL string `json:"dashboard_url"`
	// AgentAPIVersion is the newest agent protocol the server speaks.
	AgentAPIVersion string `json:"agent_api_version"`
	// ProvisionerAPIVersion is the newest provisioner protocol it speaks.
	ProvisionerAPIVersion string `json:"provisioner_api_version"`
}

// BuildInfo returns the server's build information. It needs no token.
func (c *Client) BuildInfo(ctx context.Context) (BuildInfoResponse, error) {
	var out BuildInfoResponse
	return out, c.do(ctx, http.MethodGet, "/api/v2/buildinfo", nil, http.StatusOK, &out)
}
