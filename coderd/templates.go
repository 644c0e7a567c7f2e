package coderd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// extractOrgParam resolves {organization}: an ID, a name, or "default".
func (api *API) extractOrgParam(next http.Handler) http.Handler {
	return extractParam(api, "organization", "organization", func(ctx context.Context, _ httpmw.Actor, param string) (database.Organization, error) {
		if id, err := uuid.Parse(param); err == nil {
			return api.opts.DB.GetOrganizationByID(ctx, id)
		}
		if param == "default" {
			return api.opts.DB.EnsureDefaultOrganization(ctx, api.now())
		}
		return api.opts.DB.GetOrganizationByName(ctx, param)
	}, func(o database.Organization) rbac.Object {
		return rbac.Object{Type: rbac.ResourceOrganization, OrgID: o.ID}
	})(next)
}

func orgParam(r *http.Request) database.Organization { return paramFrom[database.Organization](r) }

func templateObject(t database.Template) rbac.Object {
	return rbac.Object{Type: rbac.ResourceTemplate, OrgID: t.OrganizationID}
}

// extractTemplateParam resolves {template} by ID.
func (api *API) extractTemplateParam(next http.Handler) http.Handler {
	return extractParam(api, "template", "template", byID(api.opts.DB.GetTemplateByID), templateObject)(next)
}

func templateParam(r *http.Request) database.Template { return paramFrom[database.Template](r) }

func (api *API) postTemplate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceTemplate, OrgID: org.ID}) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.CreateTemplateRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	v.Username("name", req.Name)
	v.Text("display_name", req.DisplayName, 64)
	v.Text("description", req.Description, 1024)
	v.Text("icon", req.Icon, 256)
	if req.VersionID == uuid.Nil {
		v.Add("template_version_id", "is required")
	}
	validTTL(&v, "default_ttl_ms", req.DefaultTTLMillis)
	if !v.OK() {
		httpapi.Validation(w, "Invalid template.", v.Errors())
		return
	}
	version, err := api.opts.DB.GetTemplateVersionByID(ctx, req.VersionID)
	if errors.Is(err, database.ErrNotFound) || (err == nil && version.OrganizationID != org.ID) {
		httpapi.Validation(w, "Invalid template.", []codersdk.ValidationError{{Field: "template_version_id", Detail: "template version not found in this organization"}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get template version", err)
		return
	}
	if version.TemplateID != nil {
		httpapi.Validation(w, "Invalid template.", []codersdk.ValidationError{{Field: "template_version_id", Detail: "this version already belongs to a template"}})
		return
	}
	job, err := api.opts.DB.GetProvisionerJobByID(ctx, version.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get import job", err)
		return
	}
	if job.Status != string(codersdk.ProvisionerJobSucceeded) {
		httpapi.Validation(w, "The template version is not usable yet.", []codersdk.ValidationError{{Field: "template_version_id",
			Detail: "its import job is " + job.Status + "; a template needs a version whose import succeeded"}})
		return
	}
	var t database.Template
	err = api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		var err error
		t, err = tx.InsertTemplate(ctx, database.Template{
			ID: uuid.New(), OrganizationID: org.ID, Name: req.Name, DisplayName: req.DisplayName, Description: req.Description,
			Icon: req.Icon, ActiveVersionID: version.ID, CreatedBy: actor.User.ID, CreatedAt: api.now(), DefaultTTLMillis: req.DefaultTTLMillis,
		})
		if err != nil {
			return err
		}
		return tx.SetTemplateVersionTemplate(ctx, version.ID, t.ID, api.now())
	})
	if database.IsUniqueViolation(err, database.UniqueTemplateName) {
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A template with this name already exists.",
			Validations: []codersdk.ValidationError{{Field: "name", Detail: "already taken in this organization"}}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create template", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "template", ResourceID: &t.ID, Target: t.Name, Action: codersdk.AuditActionCreate, Status: http.StatusCreated})
	api.writeTemplates(w, r, http.StatusCreated, []database.Template{t}, true)
}

func (api *API) templates(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	rows, err := api.opts.DB.ListTemplates(ctx, org.ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list templates", err)
		return
	}
	var visible []database.Template
	for _, t := range rows {
		if rbac.Authorize(actor.Subject, rbac.ActionRead, templateObject(t)) {
			visible = append(visible, t)
		}
	}
	api.writeTemplates(w, r, http.StatusOK, visible, false)
}

func (api *API) templateByName(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	t, err := api.opts.DB.GetTemplateByName(ctx, orgParam(r).ID, chi.URLParam(r, "templatename"))
	if errors.Is(err, database.ErrNotFound) || (err == nil && !rbac.Authorize(actor.Subject, rbac.ActionRead, templateObject(t))) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get template", err)
		return
	}
	api.writeTemplates(w, r, http.StatusOK, []database.Template{t}, true)
}

func (api *API) template(w http.ResponseWriter, r *http.Request) {
	api.writeTemplates(w, r, http.StatusOK, []database.Template{templateParam(r)}, true)
}

func (api *API) deleteTemplate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	t := templateParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionDelete, templateObject(t)) {
		httpapi.Forbidden(w)
		return
	}
	counts, err := api.opts.DB.CountWorkspacesByTemplate(ctx, []uuid.UUID{t.ID})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "count workspaces", err)
		return
	}
	if n := counts[t.ID]; n > 0 {
		httpapi.Error(w, http.StatusConflict, "The template is in use.",
			"It has "+strconv.Itoa(n)+" workspace(s); delete them first (coder delete WORKSPACE).")
		return
	}
	if err := api.opts.DB.SoftDeleteTemplate(ctx, t.ID, api.now()); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "delete template", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "template", ResourceID: &t.ID, Target: t.Name, Action: codersdk.AuditActionDelete, Status: http.StatusOK})
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Template " + t.Name + " deleted."})
}

func (api *API) patchActiveTemplateVersion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	t := templateParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, templateObject(t)) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.UpdateActiveTemplateVersion
	if !httpapi.Read(w, r, &req) {
		return
	}
	v, err := api.opts.DB.GetTemplateVersionByID(ctx, req.ID)
	if errors.Is(err, database.ErrNotFound) || (err == nil && (v.TemplateID == nil || *v.TemplateID != t.ID)) {
		httpapi.Validation(w, "Invalid version.", []codersdk.ValidationError{{Field: "id", Detail: "no such version of this template"}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get version", err)
		return
	}
	if v.Archived {
		httpapi.Validation(w, "Invalid version.", []codersdk.ValidationError{{Field: "id", Detail: "the version is archived"}})
		return
	}
	job, err := api.opts.DB.GetProvisionerJobByID(ctx, v.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get import job", err)
		return
	}
	if job.Status != string(codersdk.ProvisionerJobSucceeded) {
		httpapi.Validation(w, "Invalid version.", []codersdk.ValidationError{{Field: "id", Detail: "its import is " + job.Status + ", not succeeded"}})
		return
	}
	if err := api.opts.DB.UpdateTemplateActiveVersion(ctx, t.ID, v.ID, api.now()); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "promote version", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "template", ResourceID: &t.ID, Target: t.Name, Action: codersdk.AuditActionWrite, Status: http.StatusOK,
		Diff: map[string]any{"active_version_id": map[string]any{"old": t.ActiveVersionID, "new": v.ID}}})
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Updated the active version."})
}

func (api *API) templateVersionsByTemplate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rows, err := api.opts.DB.ListTemplateVersions(ctx, templateParam(r).ID, r.URL.Query().Get("include_archived") == "true")
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list versions", err)
		return
	}
	out, err := api.convertVersions(ctx, rows)
	if err != nil {
		api.writeStoredError(w, r, "convert versions", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out)
}

// writeTemplates answers with ts converted: the first alone when single.
func (api *API) writeTemplates(w http.ResponseWriter, r *http.Request, status int, ts []database.Template, single bool) {
	out, err := api.convertTemplates(r.Context(), ts)
	if err != nil {
		api.writeStoredError(w, r, "convert templates", err)
		return
	}
	if single {
		httpapi.Write(w, status, out[0])
		return
	}
	httpapi.Write(w, status, out)
}

func (api *API) convertTemplates(ctx context.Context, ts []database.Template) ([]codersdk.Template, error) {
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	counts, err := api.opts.DB.CountWorkspacesByTemplate(ctx, ids)
	if err != nil {
		api.opts.Logger.WarnContext(ctx, "count workspaces", "error", err)
	}
	out := make([]codersdk.Template, 0, len(ts))
	for _, t := range ts {
		ct := codersdk.Template{
			ID: t.ID, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, OrganizationID: t.OrganizationID, Name: t.Name,
			DisplayName: t.DisplayName, Provisioner: "terraform", ActiveVersionID: t.ActiveVersionID, ActiveUserCount: counts[t.ID],
			Description: t.Description, Icon: t.Icon, CreatedByID: t.CreatedBy,
			RequireActiveVersion: t.RequireActiveVersion, AllowUserCancelWorkspaceJobs: t.AllowUserCancelWorkspaceJobs,
			DefaultTTLMillis: t.DefaultTTLMillis,
		}
		switch org, err := api.opts.DB.GetOrganizationByID(ctx, t.OrganizationID); {
		case err == nil:
			ct.OrganizationName = org.Name
		case !errors.Is(err, database.ErrNotFound):
			return nil, fmt.Errorf("get organization of template %s: %w", t.ID, err)
		}
		switch u, err := api.opts.DB.GetUserByID(ctx, t.CreatedBy); {
		case err == nil:
			ct.CreatedByName = u.Username
		case !errors.Is(err, database.ErrNotFound):
			return nil, fmt.Errorf("get creator of template %s: %w", t.ID, err)
		}
		out = append(out, ct)
	}
	return out, nil
}
