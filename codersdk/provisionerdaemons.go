package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// ProvisionerAPIVersion is the daemon <-> coderd protocol version.
//
// Changelog:
//   - 1.0 (2026-11): acquire (long poll), update (logs + heartbeat),
//     complete, fail, over JSON/HTTP on the one coderd port.
const ProvisionerAPIVersion = "1.0"

// Headers a provisioner daemon authenticates with (exactly one of them, or
// a user session token for owners and template admins).
const (
	ProvisionerDaemonKeyHeader = "Coder-Provisioner-Daemon-Key"
	ProvisionerDaemonPSKHeader = "Coder-Provisioner-Daemon-PSK"
)

// ProvisionerDaemon is a registered daemon as `coder provisioner list`
// shows it.
type ProvisionerDaemon struct {
	ID             uuid.UUID         `json:"id"`
	OrganizationID uuid.UUID         `json:"organization_id"`
	KeyID          *uuid.UUID        `json:"key_id,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	LastSeenAt     time.Time         `json:"last_seen_at"`
	Name           string            `json:"name"`
	Version        string            `json:"version"`
	APIVersion     string            `json:"api_version"`
	Provisioners   []string          `json:"provisioners"`
	Tags           map[string]string `json:"tags"`
	// Status is "idle", "busy" or "offline" (not seen within the stale
	// interval).
	Status     string     `json:"status"`
	CurrentJob *uuid.UUID `json:"current_job_id,omitempty"`
}

// ProvisionerKey authenticates a fleet of daemons and carries their tags.
type ProvisionerKey struct {
	ID             uuid.UUID         `json:"id"`
	CreatedAt      time.Time         `json:"created_at"`
	OrganizationID uuid.UUID         `json:"organization"`
	Name           string            `json:"name"`
	Tags           map[string]string `json:"tags"`
}

// CreateProvisionerKeyRequest names a key and its tags.
type CreateProvisionerKeyRequest struct {
	Name string            `json:"name"`
	Tags map[string]string `json:"tags,omitempty"`
}

// CreateProvisionerKeyResponse carries the key; it is shown only once.
type CreateProvisionerKeyResponse struct {
	Key string `json:"key"`
}

// AcquireJobRequest is a daemon asking for work. The server holds the
// request until a matching job is queued or WaitSeconds pass.
type AcquireJobRequest struct {
	DaemonID     uuid.UUID         `json:"daemon_id"`
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Provisioners []string          `json:"provisioners"`
	Tags         map[string]string `json:"tags"`
	WaitSeconds  int               `json:"wait_seconds"`
}

// AcquiredJob is a job handed to a daemon, with everything it needs to run
// it: no further reads are required.
type AcquiredJob struct {
	JobID          uuid.UUID          `json:"job_id"`
	CreatedAt      time.Time          `json:"created_at"`
	Type           ProvisionerJobType `json:"type"`
	OrganizationID uuid.UUID          `json:"organization_id"`
	Provisioner    string             `json:"provisioner"`
	// TemplateSourceArchive is the template's tar file.
	TemplateSourceArchive []byte                  `json:"template_source_archive"`
	TemplateImport        *AcquiredTemplateImport `json:"template_import,omitempty"`
	WorkspaceBuild        *AcquiredWorkspaceBuild `json:"workspace_build,omitempty"`
}

// AcquiredTemplateImport is an import job's input.
type AcquiredTemplateImport struct {
	Metadata ProvisionerMetadata `json:"metadata"`
	// Variables are the template variable values given at push: each must
	// name a variable the template declares.
	Variables []VariableValue `json:"variables,omitempty"`
	// PreviousVariables are the values of the template's active version
	// for variables not in Variables: used for those the template still
	// declares, the others dropped.
	PreviousVariables []VariableValue `json:"previous_variables,omitempty"`
}

// AcquiredWorkspaceBuild is a build job's input.
type AcquiredWorkspaceBuild struct {
	WorkspaceBuildID   uuid.UUID                 `json:"workspace_build_id"`
	WorkspaceName      string                    `json:"workspace_name"`
	State              []byte                    `json:"state"`
	Parameters         []WorkspaceBuildParameter `json:"rich_parameter_values"`
	PreviousParameters []WorkspaceBuildParameter `json:"previous_parameter_values"`
	Metadata           ProvisionerMetadata       `json:"metadata"`
	// Variables are the template variable values of the version built
	// (those set at its push; the others keep their defaults).
	Variables []VariableValue `json:"variables,omitempty"`
}

// ProvisionerMetadata is the workspace env contract: what coderd knows that
// Terraform templates read through the coder provider.
type ProvisionerMetadata struct {
	AccessURL           string            `json:"access_url"`
	WorkspaceTransition string            `json:"workspace_transition"` // start | stop | destroy
	WorkspaceName       string            `json:"workspace_name"`
	WorkspaceID         string            `json:"workspace_id"`
	WorkspaceBuildID    string            `json:"workspace_build_id"`
	WorkspaceOwner      string            `json:"workspace_owner"`
	WorkspaceOwnerID    string            `json:"workspace_owner_id"`
	WorkspaceOwnerName  string            `json:"workspace_owner_name"`
	WorkspaceOwnerEmail string            `json:"workspace_owner_email"`
	OwnerSessionToken   string            `json:"workspace_owner_session_token"`
	OwnerSSHPublicKey   string            `json:"workspace_owner_ssh_public_key"`
	OwnerSSHPrivateKey  string            `json:"workspace_owner_ssh_private_key"`
	OwnerGroups         []string          `json:"workspace_owner_groups"`
	OwnerLoginType      string            `json:"workspace_owner_login_type"`
	OwnerRBACRoles      []RBACRoleRef     `json:"workspace_owner_rbac_roles"`
	TemplateID          string            `json:"template_id"`
	TemplateName        string            `json:"template_name"`
	TemplateVersion     string            `json:"template_version"`
	AgentScripts        map[string]string `json:"agent_scripts"` // "linux_amd64" -> init script
}

// RBACRoleRef is a role as the coder provider's owner data source lists it.
type RBACRoleRef struct {
	Name  string `json:"name"`
	OrgID string `json:"org_id"`
}

// UpdateJobRequest appends logs and doubles as the heartbeat.
type UpdateJobRequest struct {
	DaemonID uuid.UUID        `json:"daemon_id"`
	Logs     []ProvisionerLog `json:"logs,omitempty"`
}

// UpdateJobResponse tells the daemon whether the job was canceled.
type UpdateJobResponse struct {
	Canceled bool `json:"canceled"`
}

// CompleteJobRequest reports success.
type CompleteJobRequest struct {
	DaemonID       uuid.UUID                `json:"daemon_id"`
	TemplateImport *CompletedTemplateImport `json:"template_import,omitempty"`
	WorkspaceBuild *CompletedWorkspaceBuild `json:"workspace_build,omitempty"`
}

// CompletedTemplateImport is what an import found.
type CompletedTemplateImport struct {
	Parameters     []TemplateVersionParameter `json:"rich_parameters"`
	StartResources []ProvisionerResource      `json:"start_resources"`
	StopResources  []ProvisionerResource      `json:"stop_resources"`
	Readme         string                     `json:"readme"`
	// Presets are the coder_workspace_preset data sources, checked against
	// Parameters.
	Presets []Preset `json:"presets,omitempty"`
	// Variables are the template's Terraform variables as declared (their
	// Value empty: coderd holds the values).
	Variables []TemplateVersionVariable `json:"variables,omitempty"`
}

// CompletedWorkspaceBuild is a build's outcome.
type CompletedWorkspaceBuild struct {
	State     []byte                `json:"state"`
	Resources []ProvisionerResource `json:"resources"`
}

// Error codes a daemon may report; clients switch on these, never on text.
const (
	JobErrorCodeCanceled        = "CANCELED"
	JobErrorCodeTerraform       = "TERRAFORM"
	JobErrorCodeDaemonGone      = "DAEMON_GONE"
	JobErrorCodeDaemonShutdown  = "DAEMON_SHUTDOWN"
	JobErrorCodeInvalidTemplate = "INVALID_TEMPLATE"
	JobErrorCodeInternal        = "INTERNAL"
	// JobErrorCodeRequiredTemplateVariables: the import lacks a value for
	// a template variable without a default (the error names them).
	JobErrorCodeRequiredTemplateVariables = "REQUIRED_TEMPLATE_VARIABLES"
	// JobErrorCodeTemplateVariables: a value was given for a variable the
	// template does not declare, or does not fit its type.
	JobErrorCodeTemplateVariables = "TEMPLATE_VARIABLES"
)

// FailJobRequest reports failure (or cancellation, with ErrorCode
// CANCELED). State, when not nil, is the partial Terraform state to keep.
type FailJobRequest struct {
	DaemonID  uuid.UUID `json:"daemon_id"`
	Error     string    `json:"error"`
	ErrorCode string    `json:"error_code"`
	State     []byte    `json:"state,omitempty"`
}

// AcquireJob waits for a job. It returns (nil, nil) when none came in time.
func (c *Client) AcquireJob(ctx context.Context, req AcquireJobRequest) (*AcquiredJob, error) {
	resp, err := c.Request(ctx, http.MethodPost, "/api/v2/provisionerdaemons/jobs/acquire", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusOK:
		var job AcquiredJob
		if err := decodeJSON(resp.Body, &job); err != nil {
			return nil, err
		}
		return &job, nil
	default:
		return nil, ReadBodyAsError(resp)
	}
}

// UpdateJob sends logs and a heartbeat.
func (c *Client) UpdateJob(ctx context.Context, job uuid.UUID, req UpdateJobRequest) (UpdateJobResponse, error) {
	var out UpdateJobResponse
	return out, c.do(ctx, http.MethodPost, "/api/v2/provisionerdaemons/jobs/"+job.String()+"/update", req, http.StatusOK, &out)
}

// CompleteJob reports success.
func (c *Client) CompleteJob(ctx context.Context, job uuid.UUID, req CompleteJobRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/provisionerdaemons/jobs/"+job.String()+"/complete", req, http.StatusOK, nil)
}

// FailJob reports failure.
func (c *Client) FailJob(ctx context.Context, job uuid.UUID, req FailJobRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v2/provisionerdaemons/jobs/"+job.String()+"/fail", req, http.StatusOK, nil)
}

// ProvisionerDaemons lists an organization's daemons.
func (c *Client) ProvisionerDaemons(ctx context.Context, org uuid.UUID) ([]ProvisionerDaemon, error) {
	var out []ProvisionerDaemon
	return out, c.do(ctx, http.MethodGet, "/api/v2/organizations/"+org.String()+"/provisionerdaemons", nil, http.StatusOK, &out)
}

// CreateProvisionerKey creates a key (owners and template admins).
func (c *Client) CreateProvisionerKey(ctx context.Context, org uuid.UUID, req CreateProvisionerKeyRequest) (CreateProvisionerKeyResponse, error) {
	var out CreateProvisionerKeyResponse
	return out, c.do(ctx, http.MethodPost, "/api/v2/organizations/"+org.String()+"/provisionerkeys", req, http.StatusCreated, &out)
}

// ProvisionerKeys lists an organization's keys.
func (c *Client) ProvisionerKeys(ctx context.Context, org uuid.UUID) ([]ProvisionerKey, error) {
	var out []ProvisionerKey
	return out, c.do(ctx, http.MethodGet, "/api/v2/organizations/"+org.String()+"/provisionerkeys", nil, http.StatusOK, &out)
}

// DeleteProvisionerKey deletes a key by name.
func (c *Client) DeleteProvisionerKey(ctx context.Context, org uuid.UUID, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/v2/organizations/"+org.String()+"/provisionerkeys/"+url.PathEscape(name), nil, http.StatusNoContent, nil)
}
