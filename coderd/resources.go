package coderd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/codersdk"
)

// resourceRowsForJobs reads the resources of jobs and their agents.
func (api *API) resourceRowsForJobs(ctx context.Context, jobIDs []uuid.UUID) ([]database.WorkspaceResource, []database.WorkspaceAgent, error) {
	rs, err := api.opts.DB.GetWorkspaceResourcesByJobIDs(ctx, jobIDs)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]uuid.UUID, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	agents, err := api.opts.DB.GetWorkspaceAgentsByResourceIDs(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	return rs, agents, nil
}

// resourcesForJobs converts the resources (with agents) of jobs.
func (api *API) resourcesForJobs(ctx context.Context, jobIDs []uuid.UUID) (map[uuid.UUID][]codersdk.WorkspaceResource, error) {
	rs, agents, err := api.resourceRowsForJobs(ctx, jobIDs)
	if err != nil {
		return nil, err
	}
	converted, err := api.convertAgents(ctx, agents)
	if err != nil {
		return nil, err
	}
	byRes := map[uuid.UUID][]codersdk.WorkspaceAgent{}
	for i, a := range agents {
		byRes[a.ResourceID] = append(byRes[a.ResourceID], converted[i])
	}
	out := map[uuid.UUID][]codersdk.WorkspaceResource{}
	for _, id := range jobIDs {
		out[id] = []codersdk.WorkspaceResource{}
	}
	for _, r := range rs {
		cr := codersdk.WorkspaceResource{ID: r.ID, CreatedAt: r.CreatedAt, JobID: r.JobID, Transition: codersdk.WorkspaceTransition(r.Transition),
			Type: r.Type, Name: r.Name, Hide: r.Hide, Icon: r.Icon, Agents: byRes[r.ID], DailyCost: r.DailyCost}
		if err := decodeStored("workspace_resources", "metadata", r.ID, r.Metadata, &cr.Metadata); err != nil {
			return nil, err
		}
		out[r.JobID] = append(out[r.JobID], cr)
	}
	return out, nil
}

// decodeAgentSpec reads what the provisioner recorded about an agent (its
// apps, scripts, metadata, env...) from the row's spec column; corrupt JSON
// is errCorruptStored, reported by writeStoredError.
func decodeAgentSpec(a database.WorkspaceAgent) (provisionerdserver.AgentSpec, error) {
	var spec provisionerdserver.AgentSpec
	err := decodeStored("workspace_agents", "spec", a.ID, a.Spec, &spec)
	return spec, err
}

// convertAgents converts agents with what is stored beside them (app
// health, metadata results, script runs): one query each for all agents,
// so a page of workspaces costs the same few queries however many agents
// it holds. The answer is in the order of agents.
func (api *API) convertAgents(ctx context.Context, agents []database.WorkspaceAgent) ([]codersdk.WorkspaceAgent, error) {
	healths, err := api.appHealthsOf(ctx, agents)
	if err != nil {
		return nil, err
	}
	metadata, err := api.agentMetadataOf(ctx, agents)
	if err != nil {
		return nil, err
	}
	runs, err := api.agentScriptRunsOf(ctx, agents)
	if err != nil {
		return nil, err
	}
	out := make([]codersdk.WorkspaceAgent, 0, len(agents))
	for _, a := range agents {
		ca, err := api.convertAgent(a, runs[a.ID])
		if err != nil {
			return nil, err
		}
		applyAppHealths(ca.Apps, healths[a.ID])
		if err := api.applyAgentMetadata(&ca, a, metadata[a.ID]); err != nil {
			return nil, err
		}
		out = append(out, ca)
	}
	return out, nil
}

// convertAgent converts one agent row; runs are its latest script runs.
func (api *API) convertAgent(a database.WorkspaceAgent, runs map[int]database.AgentScriptRun) (codersdk.WorkspaceAgent, error) {
	spec, err := decodeAgentSpec(a)
	if err != nil {
		return codersdk.WorkspaceAgent{}, err
	}
	ca := codersdk.WorkspaceAgent{
		ID: a.ID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, FirstConnectedAt: a.FirstConnectedAt, LastConnectedAt: a.LastConnectedAt,
		DisconnectedAt: a.DisconnectedAt, StartedAt: a.StartedAt, ReadyAt: a.ReadyAt, LifecycleState: codersdk.WorkspaceAgentLifecycle(a.LifecycleState),
		Name: a.Name, ResourceID: a.ResourceID, Architecture: a.Arch, OperatingSystem: a.OS, Directory: a.Directory,
		EnvironmentVariables: spec.Env, Version: a.Version, ConnectionTimeout: spec.ConnectionTimeoutSeconds,
		TroubleshootingURL: spec.TroubleshootingURL,
		Apps:               make([]codersdk.WorkspaceApp, 0, len(spec.Apps)),
		DisplayApps:        codersdk.DisplayAppList(spec.DisplayApps),
	}
	for _, app := range spec.Apps {
		ca.Apps = append(ca.Apps, codersdk.AppFromProvisioner(a.ID, app))
	}
	applyAgentScripts(&ca, spec, runs)
	now := api.now()
	timeout := time.Duration(spec.ConnectionTimeoutSeconds) * time.Second
	switch {
	case a.FirstConnectedAt == nil:
		ca.Status = codersdk.WorkspaceAgentConnecting
		if timeout > 0 && now.Sub(a.CreatedAt) > timeout {
			ca.Status = codersdk.WorkspaceAgentTimeout
		}
	case a.DisconnectedAt != nil && (a.LastConnectedAt == nil || a.DisconnectedAt.After(*a.LastConnectedAt)):
		ca.Status = codersdk.WorkspaceAgentDisconnected
	default:
		ca.Status = codersdk.WorkspaceAgentConnected
	}
	return ca, nil
}

// errCorruptStored marks a stored JSON value that does not decode into the
// shape coderd wrote: a server-side fault, answered with 500 and logged
// with the row, never shown as an empty value.
var errCorruptStored = errors.New("stored JSON is corrupt")

// decodeStored decodes the jsonb column of a row into v; an empty value
// leaves v as is. The error names the table, column and row.
func decodeStored(table, column string, id any, raw []byte, v any) error {
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s.%s of row %v: %w", errCorruptStored, table, column, id, err)
	}
	return nil
}

// writeStoredError answers an error of a conversion of stored rows: a
// clear 500 for corrupt stored JSON (the row is in the log), else the
// generic internal error for what.
func (api *API) writeStoredError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, errCorruptStored) {
		api.opts.Logger.ErrorContext(r.Context(), "corrupt stored data", "path", r.URL.Path, "error", err)
		httpapi.Error(w, http.StatusInternalServerError, "Stored data is corrupt.",
			"A database row holds JSON coderd cannot read; the server logged which one.")
		return
	}
	httpapi.InternalError(w, r, api.opts.Logger, what, err)
}
