package codersdk

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// WorkspaceTransition is what a build does.
type WorkspaceTransition string

// Transitions.
const (
	WorkspaceTransitionStart  WorkspaceTransition = "start"
	WorkspaceTransitionStop   WorkspaceTransition = "stop"
	WorkspaceTransitionDelete WorkspaceTransition = "delete"
)

// BuildReason says why a build happened.
type BuildReason string

// Build reasons.
const (
	BuildReasonInitiator BuildReason = "initiator"
	BuildReasonCLI       BuildReason = "cli"
	BuildReasonDashboard BuildReason = "dashboard"
	BuildReasonAutostart BuildReason = "autostart"
	BuildReasonAutostop  BuildReason = "autostop"
)

// WorkspaceBuild is one start, stop or delete of a workspace.
type WorkspaceBuild struct {
	ID                  uuid.UUID           `json:"id"`
	CreatedAt           time.Time           `json:"created_at"`
	UpdatedAt           time.Time           `json:"updated_at"`
	WorkspaceID         uuid.UUID           `json:"workspace_id"`
	WorkspaceName       string              `json:"workspace_name"`
	WorkspaceOwnerID    uuid.UUID           `json:"workspace_owner_id"`
	WorkspaceOwnerName  string              `json:"workspace_owner_name"`
	TemplateVersionID   uuid.UUID           `json:"template_version_id"`
	TemplateVersionName string              `json:"template_version_name"`
	BuildNumber         int32               `json:"build_number"`
	Transition          WorkspaceTransition `json:"transition"`
	InitiatorID         uuid.UUID           `json:"initiator_id"`
	InitiatorUsername   string              `json:"initiator_name"`
	Job                 ProvisionerJob      `json:"job"`
	Reason              BuildReason         `json:"reason"`
	Resources           []WorkspaceResource `json:"resources"`
	Status              WorkspaceStatus     `json:"status"`
	// Deadline is when autostop stops the workspace (a succeeded start
	// of a workspace with a ttl; activity moves it later); absent when
	// none.
	Deadline *time.Time `json:"deadline,omitempty"`
}

// CreateWorkspaceBuildRequest queues a build.
type CreateWorkspaceBuildRequest struct {
	TemplateVersionID   uuid.UUID                 `json:"template_version_id,omitempty"`
	Transition          WorkspaceTransition       `json:"transition"`
	RichParameterValues []WorkspaceBuildParameter `json:"rich_parameter_values,omitempty"`
	// Orphan deletes the workspace without running Terraform (for
	// infrastructure that is already gone). Delete only; owners and
	// template admins only.
	Orphan bool        `json:"orphan,omitempty"`
	Reason BuildReason `json:"reason,omitempty"`
}

// WorkspaceResource is a piece of infrastructure a build created.
type WorkspaceResource struct {
	ID         uuid.UUID              `json:"id"`
	CreatedAt  time.Time              `json:"created_at"`
	JobID      uuid.UUID              `json:"job_id"`
	Transition WorkspaceTransition    `json:"workspace_transition"`
	Type       string                 `json:"type"`
	Name       string                 `json:"name"`
	Hide       bool                   `json:"hide"`
	Icon       string                 `json:"icon"`
	Agents     []WorkspaceAgent       `json:"agents,omitempty"`
	Metadata   []ResourceMetadataItem `json:"metadata,omitempty"`
	DailyCost  int32                  `json:"daily_cost"`
}

// WorkspaceAgentStatus is the agent's connection state.
type WorkspaceAgentStatus string

// Agent connection states.
const (
	WorkspaceAgentConnecting   WorkspaceAgentStatus = "connecting"
	WorkspaceAgentConnected    WorkspaceAgentStatus = "connected"
	WorkspaceAgentDisconnected WorkspaceAgentStatus = "disconnected"
	WorkspaceAgentTimeout      WorkspaceAgentStatus = "timeout"
)

// WorkspaceAgentLifecycle is where the agent is in its startup/shutdown.
type WorkspaceAgentLifecycle string

// Lifecycle states.
const (
	WorkspaceAgentLifecycleCreated         WorkspaceAgentLifecycle = "created"
	WorkspaceAgentLifecycleStarting        WorkspaceAgentLifecycle = "starting"
	WorkspaceAgentLifecycleStartTimeout    WorkspaceAgentLifecycle = "start_timeout"
	WorkspaceAgentLifecycleStartError      WorkspaceAgentLifecycle = "start_error"
	WorkspaceAgentLifecycleReady           WorkspaceAgentLifecycle = "ready"
	WorkspaceAgentLifecycleShuttingDown    WorkspaceAgentLifecycle = "shutting_down"
	WorkspaceAgentLifecycleShutdownTimeout WorkspaceAgentLifecycle = "shutdown_timeout"
	WorkspaceAgentLifecycleShutdownError   WorkspaceAgentLifecycle = "shutdown_error"
	WorkspaceAgentLifecycleOff             WorkspaceAgentLifecycle = "off"
)

// WorkspaceAgent is the agent inside a resource.
type WorkspaceAgent struct {
	ID                   uuid.UUID               `json:"id"`
	CreatedAt            time.Time               `json:"created_at"`
	UpdatedAt            time.Time               `json:"updated_at"`
	FirstConnectedAt     *time.Time              `json:"first_connected_at,omitempty"`
	LastConnectedAt      *time.Time              `json:"last_connected_at,omitempty"`
	DisconnectedAt       *time.Time              `json:"disconnected_at,omitempty"`
	StartedAt            *time.Time              `json:"started_at,omitempty"`
	ReadyAt              *time.Time              `json:"ready_at,omitempty"`
	Status               WorkspaceAgentStatus    `json:"status"`
	LifecycleState       WorkspaceAgentLifecycle `json:"lifecycle_state"`
	Name                 string                  `json:"name"`
	ResourceID           uuid.UUID               `json:"resource_id"`
	Architecture         string                  `json:"architecture"`
	OperatingSystem      string                  `json:"operating_system"`
	Directory            string                  `json:"expanded_directory"`
	EnvironmentVariables map[string]string       `json:"environment_variables,omitempty"`
	Version              string                  `json:"version"`
	ConnectionTimeout    int32                   `json:"connection_timeout_seconds"`
	// TroubleshootingURL is where the template points users whose agent
	// does not connect (coder_agent troubleshooting_url).
	TroubleshootingURL string         `json:"troubleshooting_url,omitempty"`
	Apps               []WorkspaceApp `json:"apps"`
	// Metadata is the agent's metadata items (coder_agent metadata
	// blocks) with their latest results; absent when it has none.
	Metadata []WorkspaceAgentMetadata `json:"metadata,omitempty"`
	// DisplayApps are the built-in apps the template shows for this agent
	// (coder_agent display_apps; the provider's defaults without the
	// block). Always present, [] when the template turned them all off.
	DisplayApps []DisplayApp `json:"display_apps"`
	// Scripts are the agent's scripts with their latest runs, in the
	// manifest's order; [] when it has none.
	Scripts []WorkspaceAgentScript `json:"scripts"`
	// StartupScriptBehavior is "blocking" when a run-on-start script
	// blocks login (start_blocks_login), else "non-blocking".
	StartupScriptBehavior string `json:"startup_script_behavior"`
}

// CreateWorkspaceBuild queues a start, stop or delete.
func (c *Client) CreateWorkspaceBuild(ctx context.Context, workspace uuid.UUID, req CreateWorkspaceBuildRequest) (WorkspaceBuild, error) {
	var out WorkspaceBuild
	return out, c.do(ctx, http.MethodPost, "/api/v2/workspaces/"+workspace.String()+"/builds", req, http.StatusCreated, &out)
}

// WorkspaceBuild returns a build by ID.
func (c *Client) WorkspaceBuild(ctx context.Context, id uuid.UUID) (WorkspaceBuild, error) {
	var out WorkspaceBuild
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspacebuilds/"+id.String(), nil, http.StatusOK, &out)
}

// WorkspaceBuilds lists a workspace's builds, newest first.
func (c *Client) WorkspaceBuilds(ctx context.Context, workspace uuid.UUID) ([]WorkspaceBuild, error) {
	var out []WorkspaceBuild
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaces/"+workspace.String()+"/builds", nil, http.StatusOK, &out)
}

// CancelWorkspaceBuild asks the build's Terraform run to stop.
func (c *Client) CancelWorkspaceBuild(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, http.MethodPatch, "/api/v2/workspacebuilds/"+id.String()+"/cancel", nil, http.StatusOK, nil)
}

// WorkspaceBuildParameters returns the parameter values a build used.
func (c *Client) WorkspaceBuildParameters(ctx context.Context, id uuid.UUID) ([]WorkspaceBuildParameter, error) {
	var out []WorkspaceBuildParameter
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspacebuilds/"+id.String()+"/parameters", nil, http.StatusOK, &out)
}

// WorkspaceBuildLogsAfter streams a build's logs (see streamJobLogs).
func (c *Client) WorkspaceBuildLogsAfter(ctx context.Context, id uuid.UUID, after int64, follow bool) (<-chan ProvisionerJobLog, func() error, error) {
	return c.streamJobLogs(ctx, "/api/v2/workspacebuilds/"+id.String()+"/logs", after, follow)
}

// WorkspaceBuildState returns the Terraform state a build stored (template
// admins and owners only: it holds the workspace's secrets).
func (c *Client) WorkspaceBuildState(ctx context.Context, build uuid.UUID) ([]byte, error) {
	res, err := c.Request(ctx, http.MethodGet, "/api/v2/workspacebuilds/"+build.String()+"/state", nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, ReadBodyAsError(res)
	}
	return io.ReadAll(res.Body)
}

// PutWorkspaceBuildState replaces the state the workspace's latest build
// stored; the next build starts from it.
func (c *Client) PutWorkspaceBuildState(ctx context.Context, build uuid.UUID, state []byte) error {
	return c.do(ctx, http.MethodPut, "/api/v2/workspacebuilds/"+build.String()+"/state", state, http.StatusOK, nil)
}
