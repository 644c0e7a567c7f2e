package codersdk

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
)

// AgentAPIVersion is the agent <-> coderd protocol version.
//
// Changelog:
//   - 1.0 (2026-11): manifest, lifecycle, startup, logs, stats, listening
//     ports over JSON/HTTP; coordination over a websocket.
//   - 1.1 (2026-12): POST /workspaceagents/me/app-health, the agent's app
//     health check results (PostWorkspaceAppHealthsRequest). Additive: a
//     1.0 agent never reports, and its checked apps stay initializing.
//   - 1.2 (2026-12): GET /workspaceagents/me/gitsshkey, the workspace
//     owner's git SSH key pair (AgentGitSSHKey). Additive.
//   - 1.3 (2026-12): POST /workspaceagents/me/metadata, the results of the
//     coder_agent metadata scripts (PostAgentMetadataRequest). Additive: an
//     older agent never reports, and its metadata shows as not collected.
//   - 1.4 (2026-12): POST /workspaceagents/me/script-completed, how each
//     script run ended (PostAgentScriptCompletedRequest). Additive: an
//     older agent never reports, its scripts show no last run, and
//     `coder ssh` falls back to the lifecycle state.
const AgentAPIVersion = "1.4"

// AgentManifest is everything an agent needs to start.
type AgentManifest struct {
	AgentID              uuid.UUID                  `json:"agent_id"`
	AgentName            string                     `json:"agent_name"`
	OwnerUsername        string                     `json:"owner_name"`
	WorkspaceID          uuid.UUID                  `json:"workspace_id"`
	WorkspaceName        string                     `json:"workspace_name"`
	EnvironmentVariables map[string]string          `json:"environment_variables"`
	Directory            string                     `json:"directory"`
	MOTDFile             string                     `json:"motd_file"`
	Scripts              []ProvisionerScript        `json:"scripts"`
	Apps                 []ProvisionerApp           `json:"apps"`
	Metadata             []ProvisionerAgentMetadata `json:"metadata"`
	// DERPMap is a tailcfg.DERPMap in JSON (kept raw so this package does
	// not import tailscale).
	DERPMap                  json.RawMessage `json:"derp_map"`
	DisableDirectConnections bool            `json:"disable_direct_connections"`
	DERPForceWebSockets      bool            `json:"derp_force_websockets"`
}

// PostLifecycleRequest reports a lifecycle change.
type PostLifecycleRequest struct {
	State     WorkspaceAgentLifecycle `json:"state"`
	ChangedAt time.Time               `json:"changed_at"`
}

// PostStartupRequest reports the agent's version and environment.
type PostStartupRequest struct {
	Version           string   `json:"version"`
	ExpandedDirectory string   `json:"expanded_directory"`
	Subsystems        []string `json:"subsystems"`
}

// AgentLog is one line of a startup script's output.
type AgentLog struct {
	CreatedAt time.Time           `json:"created_at"`
	Level     ProvisionerLogLevel `json:"level"`
	Output    string              `json:"output"`
	// Source names the script ("Startup Script", a coder_script's name).
	Source string `json:"source"`
}

// PatchLogsRequest appends agent log lines.
type PatchLogsRequest struct {
	Logs []AgentLog `json:"logs"`
}

// WorkspaceAgentLog is a stored agent log line.
type WorkspaceAgentLog struct {
	ID        int64               `json:"id"`
	CreatedAt time.Time           `json:"created_at"`
	Level     ProvisionerLogLevel `json:"level"`
	Output    string              `json:"output"`
	Source    string              `json:"source"`
}

// AgentStats are connection and traffic counters since the last report.
type AgentStats struct {
	ConnectionCount    int64            `json:"connection_count"`
	SessionCountByType map[string]int64 `json:"session_count_by_type"`
	RxBytes            int64            `json:"rx_bytes"`
	TxBytes            int64            `json:"tx_bytes"`
}

// AgentStatsResponse tells the agent when to report next.
type AgentStatsResponse struct {
	ReportIntervalSeconds int64 `json:"report_interval_seconds"`
}

// ListeningPort is a TCP port open inside the workspace.
type ListeningPort struct {
	ProcessName string `json:"process_name"`
	Network     string `json:"network"`
	Port        uint16 `json:"port"`
}

// ListeningPortsResponse lists a workspace's listening ports.
type ListeningPortsResponse struct {
	Ports []ListeningPort `json:"ports"`
}

// AgentConnectionInfo is what a client needs to join an agent's tailnet.
type AgentConnectionInfo struct {
	DERPMap                  json.RawMessage `json:"derp_map"`
	DisableDirectConnections bool            `json:"disable_direct_connections"`
	DERPForceWebSockets      bool            `json:"derp_force_websockets"`
}

// --- Called by the agent (with its agent token as the session token) ---

// AgentManifest fetches the manifest.
func (c *Client) AgentManifest(ctx context.Context) (AgentManifest, error) {
	var out AgentManifest
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaceagents/me/manifest", nil, http.StatusOK, &out)
}

// PostLifecycle reports a lifecycle state.
func (c *Client) PostLifecycle(ctx context.Context, req PostLifecycleRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/report-lifecycle", req, http.StatusNoContent, nil)
}

// PostStartup reports version and directory.
func (c *Client) PostStartup(ctx context.Context, req PostStartupRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/startup", req, http.StatusNoContent, nil)
}

// PatchLogs appends startup script output.
func (c *Client) PatchLogs(ctx context.Context, req PatchLogsRequest) error {
	return c.do(ctx, http.MethodPatch, "/api/v2/workspaceagents/me/logs", req, http.StatusOK, nil)
}

// PostStats reports counters.
func (c *Client) PostStats(ctx context.Context, req AgentStats) (AgentStatsResponse, error) {
	var out AgentStatsResponse
	return out, c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/report-stats", req, http.StatusOK, &out)
}

// PostListeningPorts reports the ports open in the workspace.
func (c *Client) PostListeningPorts(ctx context.Context, req ListeningPortsResponse) error {
	return c.do(ctx, http.MethodPost, "/api/v2/workspaceagents/me/listening-ports", req, http.StatusNoContent, nil)
}

// DialAgentCoordinator opens the agent's coordination websocket.
func (c *Client) DialAgentCoordinator(ctx context.Context) (*websocket.Conn, error) {
	return c.dialWebsocket(ctx, "/api/v2/workspaceagents/me/coordinate")
}

// --- Called by users ---

// WorkspaceAgent returns an agent.
func (c *Client) WorkspaceAgent(ctx context.Context, id uuid.UUID) (WorkspaceAgent, error) {
	var out WorkspaceAgent
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaceagents/"+id.String(), nil, http.StatusOK, &out)
}

// WorkspaceAgentConnectionInfo returns the DERP map and policies.
func (c *Client) WorkspaceAgentConnectionInfo(ctx context.Context, id uuid.UUID) (AgentConnectionInfo, error) {
	var out AgentConnectionInfo
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaceagents/"+id.String()+"/connection", nil, http.StatusOK, &out)
}

// WorkspaceAgentLogs returns an agent's startup logs after an ID.
func (c *Client) WorkspaceAgentLogs(ctx context.Context, id uuid.UUID, after int64) ([]WorkspaceAgentLog, error) {
	var out []WorkspaceAgentLog
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v2/workspaceagents/%s/logs?after=%d", id, after), nil, http.StatusOK, &out)
}

// WorkspaceAgentListeningPorts lists the ports the agent reported.
func (c *Client) WorkspaceAgentListeningPorts(ctx context.Context, id uuid.UUID) (ListeningPortsResponse, error) {
	var out ListeningPortsResponse
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaceagents/"+id.String()+"/listening-ports", nil, http.StatusOK, &out)
}

// DialWorkspaceAgentCoordinator opens a client coordination websocket.
func (c *Client) DialWorkspaceAgentCoordinator(ctx context.Context, id uuid.UUID) (*websocket.Conn, error) {
	return c.dialWebsocket(ctx, "/api/v2/workspaceagents/"+id.String()+"/coordinate")
}

// DERPMap returns the deployment's DERP map (tailcfg.DERPMap JSON).
func (c *Client) DERPMap(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	return out, c.do(ctx, http.MethodGet, "/api/v2/derp-map", nil, http.StatusOK, &out)
}

func (c *Client) dialWebsocket(ctx context.Context, path string) (*websocket.Conn, error) {
	u, err := c.URL.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("parse url: %w", err)
	}
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: c.HTTPClient, HTTPHeader: c.wsHeader()})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, ReadBodyAsError(resp)
		}
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	conn.SetReadLimit(1 << 20)
	return conn, nil
}
