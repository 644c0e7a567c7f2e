package coderd

import (
	"context"
	"crypto/subtle"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// daemonAuth is what a daemon proved about itself.
type daemonAuth struct {
	OrgID uuid.UUID
	KeyID *uuid.UUID
	// KeyTags, when not nil, are the key's tags: authoritative.
	KeyTags map[string]string
}

type daemonAuthKey struct{}

func daemonFrom(ctx context.Context) daemonAuth {
	return ctx.Value(daemonAuthKey{}).(daemonAuth)
}

// provisionerKeyPrefix marks provisioner keys so they are never confused
// with user tokens.
const provisionerKeyPrefix = "cpk_"

// daemonAuthMiddleware accepts a provisioner key, the pre-shared key, or a
// session token of an owner or template admin.
func (api *API) daemonAuthMiddleware(userAuth func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			key := r.Header.Get(codersdk.ProvisionerDaemonKeyHeader)
			psk := r.Header.Get(codersdk.ProvisionerDaemonPSKHeader)
			switch {
			case key != "" && psk != "":
				httpapi.Error(w, http.StatusBadRequest, "Send either a provisioner key or a pre-shared key, not both.")
			case key != "":
				secret, ok := strings.CutPrefix(key, provisionerKeyPrefix)
				if !ok {
					httpapi.Error(w, http.StatusUnauthorized, "Invalid provisioner key.", "Keys start with "+provisionerKeyPrefix+"; create one with 'coder provisioner keys create NAME'.")
					return
				}
				k, err := api.opts.DB.GetProvisionerKeyByHashedSecret(ctx, apikey.Hash(secret))
				if errors.Is(err, database.ErrNotFound) {
					httpapi.Error(w, http.StatusUnauthorized, "Invalid provisioner key.", "The key does not exist or was deleted.")
					return
				}
				if err != nil {
					httpapi.InternalError(w, r, api.opts.Logger, "look up provisioner key", err)
					return
				}
				tags := database.DefaultTags()
				maps.Copy(tags, k.Tags)
				next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, daemonAuthKey{}, daemonAuth{OrgID: k.OrganizationID, KeyID: &k.ID, KeyTags: tags})))
			case psk != "":
				okExternal := api.opts.ProvisionerPSK != "" && subtle.ConstantTimeCompare([]byte(psk), []byte(api.opts.ProvisionerPSK)) == 1
				okBuiltin := api.opts.BuiltinProvisionerPSK != "" && subtle.ConstantTimeCompare([]byte(psk), []byte(api.opts.BuiltinProvisionerPSK)) == 1
				if !okExternal && !okBuiltin {
					httpapi.Error(w, http.StatusUnauthorized, "Invalid pre-shared key.", "It must match the server's --provisioner-daemon-psk.")
					return
				}
				org, err := api.opts.DB.EnsureDefaultOrganization(ctx, api.now())
				if err != nil {
					httpapi.InternalError(w, r, api.opts.Logger, "get default organization", err)
					return
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, daemonAuthKey{}, daemonAuth{OrgID: org.ID})))
			default:
				userAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					actor, _ := httpmw.ActorFrom(r.Context())
					org, err := api.opts.DB.EnsureDefaultOrganization(r.Context(), api.now())
					if err != nil {
						httpapi.InternalError(w, r, api.opts.Logger, "get default organization", err)
						return
					}
					if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceProvisioner, OrgID: org.ID}) {
						httpapi.Forbidden(w)
						return
					}
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), daemonAuthKey{}, daemonAuth{OrgID: org.ID})))
				})).ServeHTTP(w, r)
			}
		})
	}
}

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
	_, tagErrs := validateTags("tags", req.Tags)
	for _, e := range tagErrs {
		v.Add(e.Field, "%s", e.Detail)
	}
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
	httpapi.Write(w, http.StatusCreated, codersdk.CreateProvisionerKeyResponse{Key: provisionerKeyPrefix + secret})
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
