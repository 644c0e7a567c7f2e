package codersdk

import (
	"context"
	"net/http"
)

// HealthReport is the detailed health of a deployment. Only callers who may
// read the deployment's configuration get it (GET /api/v2/debug/health);
// the public /healthz answers with a status alone, so an anonymous caller
// learns nothing about the server's internals.
type HealthReport struct {
	Healthy  bool        `json:"healthy"`
	Database HealthCheck `json:"database"`
}

// HealthCheck is one checked dependency.
type HealthCheck struct {
	Healthy bool `json:"healthy"`
	// Error is the failure, when not healthy.
	Error     string `json:"error,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
}

// DebugHealth returns the detailed health report (owners and auditors).
func (c *Client) DebugHealth(ctx context.Context) (HealthReport, error) {
	var out HealthReport
	return out, c.do(ctx, http.MethodGet, "/api/v2/debug/health", nil, http.StatusOK, &out)
}
