package coderd

import (
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

func (api *API) postProvisionerKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.CreateProvisionerKeyRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	v.Username("name", req.Name)
	provisionerdserver.ValidateTags(&v, "tags", req.Tags)
	if !v.OK() {
		httpapi.Validation(w, "Invalid provisioner key.", v.Errors())
		return
	}
	_, secret, hashed, err := apikey.Generate()
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "generate key", err)
		return
	}
	// A longer secret than user tokens: keys live for long on many machines.
	_, secret2, _, err := apikey.Generate()
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "generate key", err)
		return
	}
	secret += secret2
	hashed = apikey.Hash(secret)
	k, err := api.opts.DB.InsertProvisionerKey(ctx, database.ProvisionerKey{
		ID: uuid.New(), OrganizationID: org.ID, Name: req.Name, HashedSecret: hashed, Tags: req.Tags, CreatedAt: api.now(),
	})
	if database.IsUniqueViolation(err, database.UniqueProvisionerKeyName) {
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A provisioner key with this name already exists.",
			Validations: []codersdk.ValidationError{{Field: "name", Detail: "already taken"}}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create provisioner key", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "provisioner_key", ResourceID: &k.ID, Target: k.Name, Action: codersdk.AuditActionCreate, Status: http.StatusCreated,
		Diff: map[string]any{"tags": k.Tags}})
	httpapi.Write(w, http.StatusCreated, codersdk.CreateProvisionerKeyResponse{Key: provisionerdserver.KeyPrefix + secret})
}

func (api *API) provisionerKeys(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
		httpapi.ResourceNotFound(w)
		return
	}
	keys, err := api.opts.DB.ListProvisionerKeys(ctx, org.ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list provisioner keys", err)
		return
	}
	out := []codersdk.ProvisionerKey{}
	for _, k := range keys {
		out = append(out, codersdk.ProvisionerKey{ID: k.ID, CreatedAt: k.CreatedAt, OrganizationID: k.OrganizationID, Name: k.Name, Tags: k.Tags})
	}
	httpapi.Write(w, http.StatusOK, out)
}

func (api *API) deleteProvisionerKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
		httpapi.ResourceNotFound(w)
		return
	}
	k, err := api.opts.DB.GetProvisionerKeyByName(ctx, org.ID, chi.URLParam(r, "keyname"))
	if errors.Is(err, database.ErrNotFound) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get provisioner key", err)
		return
	}
	if !rbac.Authorize(actor.Subject, rbac.ActionDelete, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
		httpapi.Forbidden(w)
		return
	}
	if err := api.opts.DB.DeleteProvisionerKey(ctx, k.ID); err != nil && !errors.Is(err, database.ErrNotFound) {
		httpapi.InternalError(w, r, api.opts.Logger, "delete provisioner key", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "provisioner_key", ResourceID: &k.ID, Target: k.Name, Action: codersdk.AuditActionDelete, Status: http.StatusNoContent})
	w.WriteHeader(http.StatusNoContent)
}

// daemonStaleAfter is how long since its last request a daemon is shown
// offline (daemons long-poll every ~30 s and heartbeat every 5 s).
const daemonStaleAfter = 90 * time.Second

func (api *API) provisionerDaemons(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	org := orgParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
		httpapi.ResourceNotFound(w)
		return
	}
	now := api.now()
	rows, err := api.opts.DB.ListProvisionerDaemons(ctx, org.ID, now.Add(-24*time.Hour))
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list provisioner daemons", err)
		return
	}
	out := []codersdk.ProvisionerDaemon{}
	for _, d := range rows {
		status := "idle"
		switch {
		case now.Sub(d.LastSeenAt) > daemonStaleAfter:
			status = "offline"
		case d.CurrentJobID != nil:
			status = "busy"
		}
		out = append(out, codersdk.ProvisionerDaemon{
			ID: d.ID, OrganizationID: d.OrganizationID, KeyID: d.KeyID, CreatedAt: d.CreatedAt, LastSeenAt: d.LastSeenAt, Name: d.Name,
			Version: d.Version, APIVersion: d.APIVersion, Provisioners: slices.Clone(d.Provisioners), Tags: d.Tags, Status: status, CurrentJob: d.CurrentJobID,
		})
	}
	httpapi.Write(w, http.StatusOK, out)
}
