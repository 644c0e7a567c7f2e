package coderd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

func (api *API) postWorkspaceBuild(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	ws := workspaceParam(r)
	if ws.Deleted {
		httpapi.Error(w, http.StatusGone, "The workspace was deleted.")
		return
	}
	var req codersdk.CreateWorkspaceBuildRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	switch req.Transition {
	case codersdk.WorkspaceTransitionStart, codersdk.WorkspaceTransitionStop, codersdk.WorkspaceTransitionDelete:
	default:
		v.Add("transition", "must be start, stop or delete")
	}
	if req.Orphan && req.Transition != codersdk.WorkspaceTransitionDelete {
		v.Add("orphan", "only applies to delete")
	}
	if req.Reason == "" {
		req.Reason = codersdk.BuildReasonInitiator
	}
	switch req.Reason {
	case codersdk.BuildReasonInitiator, codersdk.BuildReasonCLI, codersdk.BuildReasonDashboard:
	default:
		v.Add("reason", "must be initiator, cli or dashboard")
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid build.", v.Errors())
		return
	}
	action := rbac.ActionUpdate
	if req.Transition == codersdk.WorkspaceTransitionDelete {
		action = rbac.ActionDelete
	}
	if !rbac.Authorize(actor.Subject, action, workspaceObject(ws)) {
		httpapi.Forbidden(w)
		return
	}
	if req.Orphan && !rbac.Authorize(actor.Subject, rbac.ActionUpdate, rbac.Object{Type: rbac.ResourceTemplate, OrgID: ws.OrganizationID}) {
		httpapi.Error(w, http.StatusForbidden, "Only owners and template admins may orphan a workspace.")
		return
	}
	latest, err := api.opts.DB.GetLatestWorkspaceBuild(ctx, ws.ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get latest build", err)
		return
	}
	latestJob, err := api.opts.DB.GetProvisionerJobByID(ctx, latest.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get latest job", err)
		return
	}
	if codersdk.ProvisionerJobStatus(latestJob.Status).Active() {
		httpapi.Error(w, http.StatusConflict, "A build is already in progress.", "Wait for build #"+strconv.Itoa(int(latest.BuildNumber))+" to finish, or cancel it.")
		return
	}
	versionID := latest.TemplateVersionID
	if req.TemplateVersionID != uuid.Nil {
		versionID = req.TemplateVersionID
	}
	if req.Transition == codersdk.WorkspaceTransitionStart && !isTemplateAdmin(actor, ws.OrganizationID) {
		tmpl, err := api.opts.DB.GetTemplateByID(ctx, ws.TemplateID)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get template", err)
			return
		}
		if tmpl.RequireActiveVersion {
			if req.TemplateVersionID != uuid.Nil && req.TemplateVersionID != tmpl.ActiveVersionID {
				httpapi.Error(w, http.StatusForbidden, "This template requires the active version.", "Its admins set require_active_version: start the workspace without a version, or on the active one.")
				return
			}
			versionID = tmpl.ActiveVersionID // a start moves the workspace to it
		}
	}
	version, err := api.opts.DB.GetTemplateVersionByID(ctx, versionID)
	if errors.Is(err, database.ErrNotFound) || (err == nil && (version.TemplateID == nil || *version.TemplateID != ws.TemplateID)) {
		httpapi.Validation(w, "Invalid build.", []codersdk.ValidationError{{Field: "template_version_id", Detail: "not a version of this workspace's template"}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get template version", err)
		return
	}
	defs, ok := api.usableVersionParams(w, r, version)
	if !ok {
		return
	}
	prev, err := api.opts.DB.GetWorkspaceBuildParameters(ctx, latest.ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get previous parameters", err)
		return
	}
	params, errs := resolveBuildParameters(defs, req.RichParameterValues, prev, false)
	if len(errs) > 0 {
		httpapi.Validation(w, "Invalid parameter values.", errs)
		return
	}
	var build database.WorkspaceBuild
	err = api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		var err error
		build, err = api.queueBuild(ctx, tx, ws, version, req.Transition, latest.BuildNumber+1, actor.User.ID, req.Reason, params)
		if err != nil || !req.Orphan {
			return err
		}
		// Orphan: no Terraform run; the job ends at once and the workspace
		// is gone, whatever infrastructure is left behind.
		msg := "Orphaned by " + actor.User.Username + ": the workspace was deleted without running Terraform."
		if err := tx.InsertProvisionerJobLogs(ctx, build.JobID, []database.ProvisionerJobLog{{CreatedAt: api.now(), Source: string(codersdk.LogSourceProvisionerDaemon), Level: "warn", Stage: "Orphan", Output: msg}}); err != nil {
			return err
		}
		if _, err := tx.CancelProvisionerJob(ctx, build.JobID, api.now()); err != nil {
			return err
		}
		return tx.MarkWorkspaceDeleted(ctx, ws.ID, api.now())
	})
	if database.IsUniqueViolation(err) {
		httpapi.Error(w, http.StatusConflict, "Another build was queued at the same time.", "Try again.")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "queue build", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "workspace_build", ResourceID: &build.ID, Target: ws.Name, Action: codersdk.AuditActionCreate, Status: http.StatusCreated,
		Diff: map[string]any{"transition": req.Transition, "orphan": req.Orphan}})
	out, err := api.convertBuilds(ctx, []database.WorkspaceBuild{build})
	if err != nil {
		api.writeStoredError(w, r, "convert build", err)
		return
	}
	httpapi.Write(w, http.StatusCreated, out[0])
}

func (api *API) workspaceBuilds(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rows, err := api.opts.DB.ListWorkspaceBuilds(ctx, workspaceParam(r).ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list builds", err)
		return
	}
	out, err := api.convertBuilds(ctx, rows)
	if err != nil {
		api.writeStoredError(w, r, "convert builds", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out)
}

// buildAndWorkspace is what {workspacebuild} resolves to: a build is
// authorized as its workspace.
type buildAndWorkspace struct {
	Build     database.WorkspaceBuild
	Workspace database.Workspace
}

// extractBuildParam resolves {workspacebuild} by ID, with its workspace.
func (api *API) extractBuildParam(next http.Handler) http.Handler {
	return extractParam(api, "workspacebuild", "build", byID(func(ctx context.Context, id uuid.UUID) (buildAndWorkspace, error) {
		b, err := api.opts.DB.GetWorkspaceBuildByID(ctx, id)
		if err != nil {
			return buildAndWorkspace{}, err
		}
		ws, err := api.opts.DB.GetWorkspaceByID(ctx, b.WorkspaceID)
		return buildAndWorkspace{Build: b, Workspace: ws}, err
	}), func(bw buildAndWorkspace) rbac.Object { return workspaceObject(bw.Workspace) })(next)
}

func buildParam(r *http.Request) database.WorkspaceBuild {
	return paramFrom[buildAndWorkspace](r).Build
}

func (api *API) workspaceBuild(w http.ResponseWriter, r *http.Request) {
	out, err := api.convertBuilds(r.Context(), []database.WorkspaceBuild{buildParam(r)})
	if err != nil {
		api.writeStoredError(w, r, "convert build", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out[0])
}

func (api *API) workspaceBuildLogs(w http.ResponseWriter, r *http.Request) {
	api.serveJobLogs(w, r, buildParam(r).JobID)
}

func (api *API) workspaceBuildParameters(w http.ResponseWriter, r *http.Request) {
	ps, err := api.opts.DB.GetWorkspaceBuildParameters(r.Context(), buildParam(r).ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get parameters", err)
		return
	}
	httpapi.Write(w, http.StatusOK, provisionerdserver.ConvertBuildParameters(ps))
}

func (api *API) cancelWorkspaceBuild(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	ws := paramFrom[buildAndWorkspace](r).Workspace
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, workspaceObject(ws)) {
		httpapi.Forbidden(w)
		return
	}
	if !isTemplateAdmin(actor, ws.OrganizationID) {
		tmpl, err := api.opts.DB.GetTemplateByID(r.Context(), ws.TemplateID)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get template", err)
			return
		}
		if !tmpl.AllowUserCancelWorkspaceJobs {
			httpapi.Error(w, http.StatusForbidden, "This template does not let users cancel builds.", "Ask a template admin to cancel it, or wait for it to end.")
			return
		}
	}
	api.cancelJob(w, r, buildParam(r).JobID)
}

func workspaceStatus(transition string, job codersdk.ProvisionerJobStatus) codersdk.WorkspaceStatus {
	switch job {
	case codersdk.ProvisionerJobPending:
		return codersdk.WorkspaceStatusPending
	case codersdk.ProvisionerJobRunning:
		switch codersdk.WorkspaceTransition(transition) {
		case codersdk.WorkspaceTransitionStop:
			return codersdk.WorkspaceStatusStopping
		case codersdk.WorkspaceTransitionDelete:
			return codersdk.WorkspaceStatusDeleting
		}
		return codersdk.WorkspaceStatusStarting
	case codersdk.ProvisionerJobSucceeded:
		switch codersdk.WorkspaceTransition(transition) {
		case codersdk.WorkspaceTransitionStop:
			return codersdk.WorkspaceStatusStopped
		case codersdk.WorkspaceTransitionDelete:
			return codersdk.WorkspaceStatusDeleted
		}
		return codersdk.WorkspaceStatusRunning
	case codersdk.ProvisionerJobCanceling:
		return codersdk.WorkspaceStatusCanceling
	case codersdk.ProvisionerJobCanceled:
		if codersdk.WorkspaceTransition(transition) == codersdk.WorkspaceTransitionDelete {
			return codersdk.WorkspaceStatusDeleted // an orphaned delete
		}
		return codersdk.WorkspaceStatusCanceled
	default:
		return codersdk.WorkspaceStatusFailed
	}
}

// convertBuilds converts builds with a fixed number of queries whatever
// their number (jobs, resources, workspaces, users, versions each read in
// one go): lists of builds and of workspaces call it with many.
func (api *API) convertBuilds(ctx context.Context, builds []database.WorkspaceBuild) ([]codersdk.WorkspaceBuild, error) {
	return api.convertBuildsOf(ctx, builds, nil, nil)
}

// convertBuildsOf is convertBuilds for callers that already hold some of
// the builds' workspaces and users (keyed by ID); the rest are read.
func (api *API) convertBuildsOf(ctx context.Context, builds []database.WorkspaceBuild, wss map[uuid.UUID]database.Workspace, users map[uuid.UUID]database.User) ([]codersdk.WorkspaceBuild, error) {
	jobIDs := make([]uuid.UUID, len(builds))
	var wsIDs, versionIDs []uuid.UUID
	for i, b := range builds {
		jobIDs[i] = b.JobID
		if _, ok := wss[b.WorkspaceID]; !ok {
			wsIDs = append(wsIDs, b.WorkspaceID)
		}
		versionIDs = append(versionIDs, b.TemplateVersionID)
	}
	jobs, err := api.convertJobsByID(ctx, jobIDs)
	if err != nil {
		return nil, err
	}
	resources, err := api.resourcesForJobs(ctx, jobIDs)
	if err != nil {
		return nil, err
	}
	read, err := api.opts.DB.GetWorkspacesByIDs(ctx, wsIDs)
	if err != nil {
		return nil, err
	}
	for id, ws := range wss {
		read[id] = ws
	}
	wss = read
	var userIDs []uuid.UUID
	for _, b := range builds {
		for _, id := range []uuid.UUID{wss[b.WorkspaceID].OwnerID, b.InitiatorID} {
			if _, ok := users[id]; !ok {
				userIDs = append(userIDs, id)
			}
		}
	}
	readUsers, err := api.opts.DB.GetUsersByIDs(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	for id, u := range users {
		readUsers[id] = u
	}
	versions, err := api.opts.DB.GetTemplateVersionsByIDs(ctx, versionIDs)
	if err != nil {
		return nil, err
	}
	out := make([]codersdk.WorkspaceBuild, 0, len(builds))
	for _, b := range builds {
		ws, ok := wss[b.WorkspaceID]
		if !ok {
			return nil, fmt.Errorf("get workspace %s of build %s: %w", b.WorkspaceID, b.ID, database.ErrNotFound)
		}
		cb := codersdk.WorkspaceBuild{
			ID: b.ID, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt, WorkspaceID: b.WorkspaceID, WorkspaceName: ws.Name,
			WorkspaceOwnerID: ws.OwnerID, WorkspaceOwnerName: readUsers[ws.OwnerID].Username, TemplateVersionID: b.TemplateVersionID,
			BuildNumber: b.BuildNumber, Transition: codersdk.WorkspaceTransition(b.Transition), InitiatorID: b.InitiatorID,
			InitiatorUsername: readUsers[b.InitiatorID].Username, Job: jobs[b.JobID], Reason: codersdk.BuildReason(b.Reason), Resources: resources[b.JobID],
			TemplateVersionName: versions[b.TemplateVersionID].Name, Deadline: b.Deadline,
		}
		cb.Status = workspaceStatus(b.Transition, cb.Job.Status)
		out = append(out, cb)
	}
	return out, nil
}

// convertWorkspaces converts workspaces with their latest builds in a
// fixed number of queries (see convertBuilds).
func (api *API) convertWorkspaces(ctx context.Context, wss []database.Workspace) ([]codersdk.Workspace, error) {
	ids := make([]uuid.UUID, len(wss))
	byID := make(map[uuid.UUID]database.Workspace, len(wss))
	var ownerIDs, templateIDs []uuid.UUID
	for i, ws := range wss {
		ids[i] = ws.ID
		byID[ws.ID] = ws
		ownerIDs = append(ownerIDs, ws.OwnerID)
		templateIDs = append(templateIDs, ws.TemplateID)
	}
	latest, err := api.opts.DB.GetLatestWorkspaceBuilds(ctx, ids)
	if err != nil {
		return nil, err
	}
	owners, err := api.opts.DB.GetUsersByIDs(ctx, ownerIDs)
	if err != nil {
		return nil, err
	}
	templates, err := api.opts.DB.GetTemplatesByIDs(ctx, templateIDs)
	if err != nil {
		return nil, err
	}
	builds := make([]database.WorkspaceBuild, 0, len(latest))
	for _, ws := range wss {
		if b, ok := latest[ws.ID]; ok {
			builds = append(builds, b)
		}
	}
	converted, err := api.convertBuildsOf(ctx, builds, byID, owners)
	if err != nil {
		return nil, err
	}
	buildOf := make(map[uuid.UUID]codersdk.WorkspaceBuild, len(converted))
	for _, b := range converted {
		buildOf[b.WorkspaceID] = b
	}
	out := make([]codersdk.Workspace, 0, len(wss))
	for _, ws := range wss {
		cw := codersdk.Workspace{ID: ws.ID, CreatedAt: ws.CreatedAt, UpdatedAt: ws.UpdatedAt, OwnerID: ws.OwnerID, OrganizationID: ws.OrganizationID,
			TemplateID: ws.TemplateID, Name: ws.Name, LastUsedAt: ws.LastUsedAt, OwnerName: owners[ws.OwnerID].Username, TTLMillis: nonZero(derefTTL(ws.TTLMillis))}
		if t, ok := templates[ws.TemplateID]; ok {
			cw.TemplateName, cw.TemplateActiveVersionID = t.Name, t.ActiveVersionID
		}
		if b, ok := latest[ws.ID]; ok {
			cw.LatestBuild = buildOf[ws.ID]
			cw.Outdated = b.TemplateVersionID != cw.TemplateActiveVersionID
		}
		out = append(out, cw)
	}
	return out, nil
}
