package coderd

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

func workspaceObject(w database.Workspace) rbac.Object {
	return rbac.Object{Type: rbac.ResourceWorkspace, OwnerID: w.OwnerID, OrgID: w.OrganizationID}
}

// extractWorkspaceParam resolves {workspace} by ID.
func (api *API) extractWorkspaceParam(next http.Handler) http.Handler {
	return extractParam(api, "workspace", "workspace", byID(api.opts.DB.GetWorkspaceByID), workspaceObject)(next)
}

func workspaceParam(r *http.Request) database.Workspace { return paramFrom[database.Workspace](r) }

func (api *API) postUserWorkspace(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	owner := userParam(r)
	var req codersdk.CreateWorkspaceRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	v.Username("name", req.Name)
	if req.TemplateID == uuid.Nil && req.TemplateVersionID == uuid.Nil {
		v.Add("template_id", "is required (or template_version_id)")
	}
	if req.TTLMillis != nil {
		validTTL(&v, "ttl_ms", *req.TTLMillis)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid workspace.", v.Errors())
		return
	}
	var (
		tmpl    database.Template
		version database.TemplateVersion
		err     error
	)
	if req.TemplateVersionID != uuid.Nil {
		version, err = api.opts.DB.GetTemplateVersionByID(ctx, req.TemplateVersionID)
		if err == nil && version.TemplateID == nil {
			err = database.ErrNotFound
		}
		if err == nil {
			if req.TemplateID != uuid.Nil && req.TemplateID != *version.TemplateID {
				httpapi.Validation(w, "Invalid workspace.", []codersdk.ValidationError{{Field: "template_version_id", Detail: "does not belong to template_id"}})
				return
			}
			req.TemplateID = *version.TemplateID
		}
	}
	if err == nil {
		tmpl, err = api.opts.DB.GetTemplateByID(ctx, req.TemplateID)
	}
	if errors.Is(err, database.ErrNotFound) || (err == nil && !rbac.Authorize(actor.Subject, rbac.ActionRead, templateObject(tmpl))) {
		httpapi.Validation(w, "Invalid workspace.", []codersdk.ValidationError{{Field: "template_id", Detail: "template not found"}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get template", err)
		return
	}
	wsObj := rbac.Object{Type: rbac.ResourceWorkspace, OwnerID: owner.ID, OrgID: tmpl.OrganizationID}
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, wsObj) || !rbac.Authorize(actor.Subject, rbac.ActionUse, templateObject(tmpl)) {
		httpapi.Forbidden(w)
		return
	}
	if req.TemplateVersionID == uuid.Nil {
		version, err = api.opts.DB.GetTemplateVersionByID(ctx, tmpl.ActiveVersionID)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get active version", err)
			return
		}
	}
	defs, ok := api.usableVersionParams(w, r, version)
	if !ok {
		return
	}
	params, errs := resolveBuildParameters(defs, req.RichParameterValues, nil, true)
	if len(errs) > 0 {
		httpapi.Validation(w, "Invalid parameter values.", errs)
		return
	}
	now := api.now()
	ttl := req.TTLMillis
	if ttl == nil {
		ttl = &tmpl.DefaultTTLMillis
	}
	ws := database.Workspace{ID: uuid.New(), OrganizationID: tmpl.OrganizationID, OwnerID: owner.ID, TemplateID: tmpl.ID, Name: req.Name, CreatedAt: now, TTLMillis: nonZero(*ttl)}
	err = api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		var err error
		if ws, err = tx.InsertWorkspace(ctx, ws); err != nil {
			return err
		}
		_, err = api.queueBuild(ctx, tx, ws, version, codersdk.WorkspaceTransitionStart, 1, actor.User.ID, codersdk.BuildReasonInitiator, params)
		return err
	})
	if database.IsUniqueViolation(err, database.UniqueWorkspaceName) {
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A workspace with this name already exists.",
			Validations: []codersdk.ValidationError{{Field: "name", Detail: "already used by " + owner.Username}}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create workspace", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "workspace", ResourceID: &ws.ID, Target: ws.Name, Action: codersdk.AuditActionCreate, Status: http.StatusCreated})
	out, err := api.convertWorkspaces(ctx, []database.Workspace{ws})
	if err != nil {
		api.writeStoredError(w, r, "convert workspace", err)
		return
	}
	httpapi.Write(w, http.StatusCreated, out[0])
}

// usableVersionParams returns a version's parameters, answering 400 when
// its import has not succeeded.
func (api *API) usableVersionParams(w http.ResponseWriter, r *http.Request, v database.TemplateVersion) ([]codersdk.TemplateVersionParameter, bool) {
	job, err := api.opts.DB.GetProvisionerJobByID(r.Context(), v.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get import job", err)
		return nil, false
	}
	if job.Status != string(codersdk.ProvisionerJobSucceeded) {
		httpapi.Validation(w, "The template version is not usable.", []codersdk.ValidationError{{Field: "template_version_id", Detail: "its import is " + job.Status}})
		return nil, false
	}
	var defs []codersdk.TemplateVersionParameter
	if err := json.Unmarshal(v.Parameters, &defs); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "decode parameters", err)
		return nil, false
	}
	return defs, true
}

// queueBuild inserts a build, its job and its parameters.
func (api *API) queueBuild(ctx context.Context, tx *database.Store, ws database.Workspace, version database.TemplateVersion, transition codersdk.WorkspaceTransition,
	number int32, initiator uuid.UUID, reason codersdk.BuildReason, params []database.WorkspaceBuildParameter) (database.WorkspaceBuild, error) {
	importJob, err := tx.GetProvisionerJobByID(ctx, version.JobID)
	if err != nil {
		return database.WorkspaceBuild{}, err
	}
	now := api.now()
	buildID := uuid.New()
	input, _ := json.Marshal(codersdk.ProvisionerJobInput{WorkspaceBuildID: &buildID})
	job, err := tx.InsertProvisionerJob(ctx, database.ProvisionerJob{
		ID: uuid.New(), OrganizationID: ws.OrganizationID, InitiatorID: initiator, Type: string(codersdk.ProvisionerJobTypeWorkspaceBuild),
		Provisioner: "terraform", FileID: importJob.FileID, Input: input, Tags: importJob.Tags, CreatedAt: now,
	})
	if err != nil {
		return database.WorkspaceBuild{}, err
	}
	build, err := tx.InsertWorkspaceBuild(ctx, database.WorkspaceBuild{
		ID: buildID, WorkspaceID: ws.ID, TemplateVersionID: version.ID, BuildNumber: number, Transition: string(transition),
		InitiatorID: initiator, Reason: string(reason), JobID: job.ID, CreatedAt: now,
	})
	if err != nil {
		return database.WorkspaceBuild{}, err
	}
	return build, tx.InsertWorkspaceBuildParameters(ctx, build.ID, params)
}

// workspaces lists the workspaces the caller may see, filtered by q. With
// limit (and offset) it answers one page of them and Count is the number
// of all that match, so a dashboard with a thousand workspaces converts
// (and sends) only the rows it shows; without limit, every match.
func (api *API) workspaces(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	limit, offset, ok := pagination(w, r)
	if !ok {
		return
	}
	var f database.WorkspacesFilter
	var v httpapi.Validator
	var status codersdk.WorkspaceStatus
	for _, term := range strings.Fields(r.URL.Query().Get("q")) {
		key, val, ok := strings.Cut(term, ":")
		if !ok {
			key, val = "name", term
		}
		switch key {
		case "owner":
			if val == codersdk.Me {
				f.OwnerID = actor.User.ID
				continue
			}
			u, err := api.opts.DB.GetUserByEmailOrUsername(ctx, "", val)
			if err != nil {
				f.OwnerID = uuid.New() // matches nothing
				continue
			}
			f.OwnerID = u.ID
		case "template":
			// Resolved per organization below; by name across the caller's orgs.
			f.TemplateID = uuid.Nil
			ts, err := api.opts.DB.GetTemplateByName(ctx, firstOrg(actor), val)
			if err != nil {
				f.TemplateID = uuid.New()
				continue
			}
			f.TemplateID = ts.ID
		case "name":
			f.Name = val
		case "status":
			// The status comes from the latest build: applied after conversion.
			if !slices.Contains(codersdk.WorkspaceStatuses, codersdk.WorkspaceStatus(val)) {
				v.Add("q", "unknown status %q: use one of %v", val, codersdk.WorkspaceStatuses)
			}
			status = codersdk.WorkspaceStatus(val)
		default:
			v.Add("q", "unknown filter %q: use owner:, template:, name: or status:", key)
		}
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid query.", v.Errors())
		return
	}
	rows, err := api.opts.DB.ListWorkspaces(ctx, f)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list workspaces", err)
		return
	}
	var visible []database.Workspace
	for _, ws := range rows {
		if rbac.Authorize(actor.Subject, rbac.ActionRead, workspaceObject(ws)) {
			visible = append(visible, ws)
		}
	}
	// The status comes from the latest build, known only after conversion:
	// without a status filter, convert only the page.
	total := len(visible)
	if status == "" {
		visible = page(visible, limit, offset)
	}
	out, err := api.convertWorkspaces(ctx, visible)
	if err != nil {
		api.writeStoredError(w, r, "convert workspaces", err)
		return
	}
	if status != "" {
		out = slices.DeleteFunc(out, func(ws codersdk.Workspace) bool { return ws.LatestBuild.Status != status })
		total = len(out)
		out = page(out, limit, offset)
	}
	if out == nil {
		out = []codersdk.Workspace{}
	}
	httpapi.Write(w, http.StatusOK, codersdk.WorkspacesResponse{Workspaces: out, Count: total})
}

// page returns the limit items of s from offset (all from offset when
// limit is 0).
func page[T any](s []T, limit, offset int) []T {
	s = s[min(offset, len(s)):]
	if limit > 0 && limit < len(s) {
		s = s[:limit]
	}
	return s
}

func firstOrg(a httpmw.Actor) uuid.UUID {
	if len(a.Subject.OrgIDs) > 0 {
		return a.Subject.OrgIDs[0]
	}
	return uuid.Nil
}

func (api *API) workspace(w http.ResponseWriter, r *http.Request) {
	ws := workspaceParam(r)
	if ws.Deleted && r.URL.Query().Get("include_deleted") != "true" {
		httpapi.Error(w, http.StatusGone, "The workspace was deleted.")
		return
	}
	out, err := api.convertWorkspaces(r.Context(), []database.Workspace{ws})
	if err != nil {
		api.writeStoredError(w, r, "convert workspace", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out[0])
}

func (api *API) workspaceByOwnerAndName(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	ws, err := api.opts.DB.GetWorkspaceByOwnerAndName(ctx, userParam(r).ID, chi.URLParam(r, "workspacename"))
	if errors.Is(err, database.ErrNotFound) || (err == nil && !rbac.Authorize(actor.Subject, rbac.ActionRead, workspaceObject(ws))) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get workspace", err)
		return
	}
	out, err := api.convertWorkspaces(ctx, []database.Workspace{ws})
	if err != nil {
		api.writeStoredError(w, r, "convert workspace", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out[0])
}
