package codersdk

import (
	"context"
	"net/http"
	"time"
)

// HealthReport is the detailed health of a deployment. Only callers who may
// read the deployment's configuration get it (GET /api/v2/debug/health);
// the public /healthz answers with a status alone, so an anonymous caller
// learns nothing about the server's internals.
//
// Each check answers one question a user's failure would raise: can coderd
// reach its database (everything), can nodes reach the DERP relay and the
// STUN servers through the addresses the DERP map advertises (connections
// to workspaces), do websockets pass through whatever fronts the access URL
// (terminals, build logs, browser DERP), and is any provisioner daemon
// online (builds).
type HealthReport struct {
	// Healthy is true when no check failed (skipped checks count as
	// healthy).
	Healthy      bool        `json:"healthy"`
	Time         time.Time   `json:"time"`
	Database     HealthCheck `json:"database"`
	DERP         HealthCheck `json:"derp"`
	STUN         HealthCheck `json:"stun"`
	Websocket    HealthCheck `json:"websocket"`
	Provisioners HealthCheck `json:"provisioners"`
}

// HealthCheck is one checked dependency.
type HealthCheck struct {
	Healthy bool `json:"healthy"`
	// Error is the failure, when not healthy.
	Error     string `json:"error,omitempty"`
	LatencyMS int64  `json:"latency_ms"`
	// Skipped says why the check does not apply to this deployment (no
	// tailnet, STUN disabled); a skipped check is healthy.
	Skipped string `json:"skipped,omitempty"`
	// Details are what the check observed, one line per item (a DERP node,
	// a STUN server, a daemon), failures included.
	Details []string `json:"details,omitempty"`
	// Warnings are problems that do not fail the check (a daemon on
	// another protocol version, one region of several unreachable).
	Warnings []string `json:"warnings,omitempty"`
}

// DebugHealth returns the detailed health report (owners and auditors).
func (c *Client) DebugHealth(ctx context.Context) (HealthReport, error) {
	var out HealthReport
	return out, c.do(ctx, http.MethodGet, "/api/v2/debug/health", nil, http.StatusOK, &out)
}
