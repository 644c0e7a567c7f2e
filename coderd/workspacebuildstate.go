package coderd

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// maxStateSize bounds a pushed Terraform state (states of large workspaces
// reach a few MiB).
const maxStateSize = 32 << 20

// The Terraform state of a build holds the workspace's secrets (tokens,
// keys, anything a resource exports), so reading or replacing it needs
// the right to change the workspace's template: template admins and
// owners, as with the incumbent. Other callers who may see the build get
// 403; those who may not, 404 (from extractBuildParam).
func (api *API) authorizeBuildState(w http.ResponseWriter, r *http.Request) bool {
	actor, _ := httpmw.ActorFrom(r.Context())
	ws := paramFrom[buildAndWorkspace](r).Workspace
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, rbac.Object{Type: rbac.ResourceTemplate, OrgID: ws.OrganizationID}) {
		httpapi.Error(w, http.StatusForbidden, "Only template admins may read or replace a build's Terraform state.", "The state holds the workspace's secrets.")
		return false
	}
	return true
}

// workspaceBuildState answers the build's Terraform state as stored (JSON),
// or 404 when the build stored none (a build that failed before Terraform
// wrote any, or an orphan delete).
func (api *API) workspaceBuildState(w http.ResponseWriter, r *http.Request) {
	if !api.authorizeBuildState(w, r) {
		return
	}
	b := buildParam(r)
	if len(b.ProvisionerState) == 0 {
		httpapi.Error(w, http.StatusNotFound, "This build stored no Terraform state.", fmt.Sprintf("Build #%d ended without one; an earlier build may have it.", b.BuildNumber))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", fmt.Sprintf("build-%d.tfstate", b.BuildNumber)))
	_, _ = w.Write(b.ProvisionerState)
}

// putWorkspaceBuildState replaces the state a finished build stored: the
// workspace's next build starts from it (for repairs: a resource imported
// by hand, a state edited with terraform state rm). Audited.
func (api *API) putWorkspaceBuildState(w http.ResponseWriter, r *http.Request) {
	if !api.authorizeBuildState(w, r) {
		return
	}
	ctx := r.Context()
	b := buildParam(r)
	job, err := api.opts.DB.GetProvisionerJobByID(ctx, b.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get build job", err)
		return
	}
	if codersdk.ProvisionerJobStatus(job.Status).Active() {
		httpapi.Error(w, http.StatusConflict, "The build is still running.", "Wait for it to end (or cancel it), then replace its state.")
		return
	}
	latest, err := api.opts.DB.GetLatestWorkspaceBuild(ctx, b.WorkspaceID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get latest build", err)
		return
	}
	if latest.ID != b.ID {
		httpapi.Error(w, http.StatusBadRequest, "Only the workspace's latest build's state can be replaced.", fmt.Sprintf("Build #%d is the latest.", latest.BuildNumber))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStateSize))
	if err != nil {
		httpapi.Error(w, http.StatusRequestEntityTooLarge, "State too large.", fmt.Sprintf("The limit is %d bytes.", maxStateSize))
		return
	}
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &probe); err != nil || probe.Version == nil {
		httpapi.Validation(w, "Invalid state.", []codersdk.ValidationError{{Field: "body", Detail: "not a Terraform state: a JSON object with a \"version\" field is expected"}})
		return
	}
	if err := api.opts.DB.UpdateWorkspaceBuildState(ctx, b.ID, data, api.now()); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store state", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "workspace_build", ResourceID: &b.ID, Target: fmt.Sprintf("build #%d", b.BuildNumber), Action: codersdk.AuditActionWrite, Status: http.StatusOK})
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "State replaced; the workspace's next build starts from it."})
}
