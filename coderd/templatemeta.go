package coderd

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// patchTemplateMeta changes a template's settings: only the fields sent.
func (api *API) patchTemplateMeta(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	t := templateParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, templateObject(t)) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.UpdateTemplateMeta
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	next := t
	if req.Name != nil {
		v.Username("name", *req.Name)
		next.Name = *req.Name
	}
	if req.DisplayName != nil {
		v.Text("display_name", *req.DisplayName, 64)
		next.DisplayName = *req.DisplayName
	}
	if req.Description != nil {
		v.Text("description", *req.Description, 1024)
		next.Description = *req.Description
	}
	if req.Icon != nil {
		v.Text("icon", *req.Icon, 256)
		next.Icon = *req.Icon
	}
	if req.RequireActiveVersion != nil {
		next.RequireActiveVersion = *req.RequireActiveVersion
	}
	if req.AllowUserCancelWorkspaceJobs != nil {
		next.AllowUserCancelWorkspaceJobs = *req.AllowUserCancelWorkspaceJobs
	}
	if req.DefaultTTLMillis != nil {
		validTTL(&v, "default_ttl_ms", *req.DefaultTTLMillis)
		next.DefaultTTLMillis = *req.DefaultTTLMillis
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid template settings.", v.Errors())
		return
	}
	updated, err := api.opts.DB.UpdateTemplateMeta(ctx, next, api.now())
	if database.IsUniqueViolation(err, database.UniqueTemplateName) {
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A template with this name already exists.",
			Validations: []codersdk.ValidationError{{Field: "name", Detail: "already used in this organization"}}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "update template", err)
		return
	}
	diff := map[string]any{}
	for k, c := range map[string][2]any{
		"name": {t.Name, updated.Name}, "display_name": {t.DisplayName, updated.DisplayName}, "description": {t.Description, updated.Description},
		"icon": {t.Icon, updated.Icon}, "require_active_version": {t.RequireActiveVersion, updated.RequireActiveVersion},
		"allow_user_cancel_workspace_jobs": {t.AllowUserCancelWorkspaceJobs, updated.AllowUserCancelWorkspaceJobs},
		"default_ttl_ms":                   {t.DefaultTTLMillis, updated.DefaultTTLMillis},
	} {
		if c[0] != c[1] {
			diff[k] = map[string]any{"old": c[0], "new": c[1]}
		}
	}
	api.audit(r, auditEntry{ResourceType: "template", ResourceID: &t.ID, Target: updated.Name, Action: codersdk.AuditActionWrite, Status: http.StatusOK, Diff: diff})
	api.writeTemplates(w, r, http.StatusOK, []database.Template{updated}, true)
}

// isTemplateAdmin reports whether the actor manages the organization's
// templates (template admins, owners): template policies do not bind them.
func isTemplateAdmin(actor httpmw.Actor, orgID uuid.UUID) bool {
	return rbac.Authorize(actor.Subject, rbac.ActionUpdate, rbac.Object{Type: rbac.ResourceTemplate, OrgID: orgID})
}
