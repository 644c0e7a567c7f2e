package coderd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// extractVersionParam resolves {templateversion} by ID.
func (api *API) extractVersionParam(next http.Handler) http.Handler {
	return extractParam(api, "templateversion", "template version", byID(api.opts.DB.GetTemplateVersionByID), versionObject)(next)
}

func versionParam(r *http.Request) database.TemplateVersion {
	return paramFrom[database.TemplateVersion](r)
}

// versionObject: a version not yet attached to a template is visible only
// to template admins (members see versions through their templates). The
// unattached version's object carries no organization, so the members'
// organization-scoped template permission does not reach it; roles that
// hold templates site-wide (owner, template admin, auditor) still do.
func versionObject(v database.TemplateVersion) rbac.Object {
	if v.TemplateID == nil {
		return rbac.Object{Type: rbac.ResourceTemplate}
	}
	return rbac.Object{Type: rbac.ResourceTemplate, OrgID: v.OrganizationID}
}

var nameWords = [2][]string{
	{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "kind", "lively", "nice", "proud", "silly", "witty", "zealous"},
	{"ant", "bear", "cat", "dog", "eel", "fox", "goat", "hawk", "ibis", "jay", "koala", "lynx", "mole", "newt", "owl", "puma"},
}

func randomVersionName() string {
	return fmt.Sprintf("%s_%s%d", nameWords[0][rand.IntN(len(nameWords[0]))], nameWords[1][rand.IntN(len(nameWords[1]))], rand.IntN(1000))
}

func (api *API) postTemplateVersion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceTemplate, OrgID: org.ID}) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.CreateTemplateVersionRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	if req.Name != "" {
		v.Text("name", req.Name, 64)
	}
	v.Text("message", req.Message, 1024)
	if req.StorageMethod != "" && req.StorageMethod != "file" {
		v.Add("storage_method", "must be \"file\"")
	}
	if req.Provisioner != "" && req.Provisioner != "terraform" {
		v.Add("provisioner", "must be \"terraform\"")
	}
	switch {
	case req.FileID == uuid.Nil && req.ExampleID == "":
		v.Add("file_id", "is required (or example_id, a starter template)")
	case req.FileID != uuid.Nil && req.ExampleID != "":
		v.Add("example_id", "cannot be combined with file_id; set one")
	}
	tags := provisionerdserver.ValidateTags(&v, "tags", req.ProvisionerTags)
	validateVariableValues(&v, req.UserVariableValues)
	if !v.OK() {
		httpapi.Validation(w, "Invalid template version.", v.Errors())
		return
	}
	var file database.File
	var err error
	if req.ExampleID != "" {
		var bad *codersdk.ValidationError
		file, bad, err = api.exampleFile(ctx, actor, req.ExampleID)
		if bad != nil {
			httpapi.Validation(w, "Invalid template version.", []codersdk.ValidationError{*bad})
			return
		}
	} else {
		file, err = api.opts.DB.GetFileByID(ctx, req.FileID)
		if errors.Is(err, database.ErrNotFound) || (err == nil && !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceFile, OwnerID: file.CreatedBy})) {
			httpapi.Validation(w, "Invalid template version.", []codersdk.ValidationError{{Field: "file_id", Detail: "file not found; upload it first (POST /api/v2/files)"}})
			return
		}
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get file", err)
		return
	}
	var templateID *uuid.UUID
	var previousVars []database.VariableValue
	if req.TemplateID != uuid.Nil {
		t, err := api.opts.DB.GetTemplateByID(ctx, req.TemplateID)
		if errors.Is(err, database.ErrNotFound) || (err == nil && t.OrganizationID != org.ID) {
			httpapi.Validation(w, "Invalid template version.", []codersdk.ValidationError{{Field: "template_id", Detail: "template not found in this organization"}})
			return
		}
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get template", err)
			return
		}
		templateID = &t.ID
		if previousVars, err = api.previousVariableValues(ctx, t, req.UserVariableValues); err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get the active version's variables", err)
			return
		}
	}
	name := req.Name
	if name == "" {
		name = randomVersionName()
	}
	versionID := uuid.New()
	input, _ := json.Marshal(codersdk.ProvisionerJobInput{TemplateVersionID: &versionID})
	var version database.TemplateVersion
	err = api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		job, err := tx.InsertProvisionerJob(ctx, database.ProvisionerJob{
			ID: uuid.New(), OrganizationID: org.ID, InitiatorID: actor.User.ID, Type: string(codersdk.ProvisionerJobTypeTemplateVersionImport),
			Provisioner: "terraform", FileID: file.ID, Input: input, Tags: tags, CreatedAt: api.now(),
		})
		if err != nil {
			return err
		}
		version, err = tx.InsertTemplateVersion(ctx, database.TemplateVersion{
			ID: versionID, TemplateID: templateID, OrganizationID: org.ID, Name: name, Message: req.Message,
			JobID: job.ID, CreatedBy: actor.User.ID, CreatedAt: api.now(),
		})
		if err != nil || len(req.UserVariableValues)+len(previousVars) == 0 {
			return err
		}
		return tx.SetTemplateVersionPendingVariables(ctx, version.ID, dbVariableValues(req.UserVariableValues), previousVars)
	})
	if database.IsUniqueViolation(err, database.UniqueTemplateVersionName) {
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A version with this name already exists.",
			Validations: []codersdk.ValidationError{{Field: "name", Detail: "already used by this template"}}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create template version", err)
		return
	}
	out, err := api.convertVersions(ctx, []database.TemplateVersion{version})
	if err != nil {
		api.writeStoredError(w, r, "convert version", err)
		return
	}
	httpapi.Write(w, http.StatusCreated, out[0])
}

func (api *API) templateVersion(w http.ResponseWriter, r *http.Request) {
	out, err := api.convertVersions(r.Context(), []database.TemplateVersion{versionParam(r)})
	if err != nil {
		api.writeStoredError(w, r, "convert version", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out[0])
}

func (api *API) templateVersionRichParameters(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := versionParam(r)
	job, err := api.opts.DB.GetProvisionerJobByID(ctx, v.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get import job", err)
		return
	}
	if job.Status != string(codersdk.ProvisionerJobSucceeded) {
		httpapi.Error(w, http.StatusBadRequest, "The template version's import has not succeeded.", "Its job is "+job.Status+".")
		return
	}
	var params []codersdk.TemplateVersionParameter
	if err := json.Unmarshal(v.Parameters, &params); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "decode parameters", err)
		return
	}
	if params == nil {
		params = []codersdk.TemplateVersionParameter{}
	}
	httpapi.Write(w, http.StatusOK, params)
}

// templateVersionPresets answers the version's presets, checked against
// its parameters by the import; an empty list before the import succeeded.
func (api *API) templateVersionPresets(w http.ResponseWriter, r *http.Request) {
	raw, err := api.opts.DB.GetTemplateVersionPresets(r.Context(), versionParam(r).ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get presets", err)
		return
	}
	presets := []codersdk.Preset{}
	if err := json.Unmarshal(raw, &presets); err != nil {
		api.writeStoredError(w, r, "decode presets", err)
		return
	}
	httpapi.Write(w, http.StatusOK, presets)
}

func (api *API) templateVersionResources(w http.ResponseWriter, r *http.Request) {
	out, err := api.resourcesForJobs(r.Context(), []uuid.UUID{versionParam(r).JobID})
	if err != nil {
		api.writeStoredError(w, r, "get resources", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out[versionParam(r).JobID])
}

func (api *API) templateVersionLogs(w http.ResponseWriter, r *http.Request) {
	api.serveJobLogs(w, r, versionParam(r).JobID)
}

func (api *API) cancelTemplateVersion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	v := versionParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, versionObject(v)) {
		httpapi.Forbidden(w)
		return
	}
	api.cancelJob(w, r, v.JobID)
}

func (api *API) archiveTemplateVersion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	v := versionParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, versionObject(v)) {
		httpapi.Forbidden(w)
		return
	}
	if v.TemplateID != nil {
		t, err := api.opts.DB.GetTemplateByID(ctx, *v.TemplateID)
		if err != nil && !errors.Is(err, database.ErrNotFound) {
			httpapi.InternalError(w, r, api.opts.Logger, "get template", err)
			return
		}
		if err == nil && t.ActiveVersionID == v.ID {
			httpapi.Error(w, http.StatusBadRequest, "The active version cannot be archived.", "Promote another version first.")
			return
		}
	}
	job, err := api.opts.DB.GetProvisionerJobByID(ctx, v.JobID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get import job", err)
		return
	}
	if codersdk.ProvisionerJobStatus(job.Status).Active() {
		httpapi.Error(w, http.StatusBadRequest, "The version is still importing.", "Cancel it first.")
		return
	}
	if err := api.opts.DB.ArchiveTemplateVersion(ctx, v.ID, api.now()); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "archive version", err)
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Version archived."})
}

// unarchiveTemplateVersion makes an archived version usable again (listed,
// promotable, buildable).
func (api *API) unarchiveTemplateVersion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	v := versionParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, versionObject(v)) {
		httpapi.Forbidden(w)
		return
	}
	if !v.Archived {
		httpapi.Error(w, http.StatusBadRequest, "The version is not archived.")
		return
	}
	if err := api.opts.DB.SetTemplateVersionArchived(ctx, v.ID, false, api.now()); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "unarchive version", err)
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Version unarchived."})
}

func (api *API) convertVersions(ctx context.Context, vs []database.TemplateVersion) ([]codersdk.TemplateVersion, error) {
	ids := make([]uuid.UUID, len(vs))
	for i, v := range vs {
		ids[i] = v.JobID
	}
	jobs, err := api.convertJobsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]codersdk.TemplateVersion, 0, len(vs))
	for _, v := range vs {
		cv := codersdk.TemplateVersion{
			ID: v.ID, TemplateID: v.TemplateID, OrganizationID: v.OrganizationID, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt,
			Name: v.Name, Message: v.Message, Job: jobs[v.JobID], Readme: v.Readme, CreatedBy: codersdk.MinimalUser{ID: v.CreatedBy}, Archived: v.Archived,
		}
		switch u, err := api.opts.DB.GetUserByID(ctx, v.CreatedBy); {
		case err == nil:
			cv.CreatedBy.Username = u.Username
		case !errors.Is(err, database.ErrNotFound):
			return nil, fmt.Errorf("get creator of version %s: %w", v.ID, err)
		}
		out = append(out, cv)
	}
	return out, nil
}
