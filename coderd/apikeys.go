package coderd

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// defaultTokenLifetime applies when a token request gives none.
const defaultTokenLifetime = 30 * 24 * time.Hour

func apiKeyObject(k database.APIKey) rbac.Object {
	return rbac.Object{Type: rbac.ResourceAPIKey, OwnerID: k.UserID}
}

func (api *API) postToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	user := userParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceAPIKey, OwnerID: user.ID}) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.CreateTokenRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	if req.Scope == "" {
		req.Scope = codersdk.APIKeyScopeAll
	}
	if req.Lifetime == 0 {
		req.Lifetime = defaultTokenLifetime
	}
	var v httpapi.Validator
	v.Username("token_name", req.TokenName)
	switch {
	case req.Lifetime < 0:
		v.Add("lifetime", "must be positive")
	case req.Lifetime < time.Minute:
		v.Add("lifetime", "must be at least one minute")
	case req.Lifetime > api.opts.MaxTokenLifetime:
		v.Add("lifetime", "must be at most %s", api.opts.MaxTokenLifetime)
	}
	if req.Scope != codersdk.APIKeyScopeAll && req.Scope != codersdk.APIKeyScopeApplicationConnect {
		v.Add("scope", "must be %q or %q", codersdk.APIKeyScopeAll, codersdk.APIKeyScopeApplicationConnect)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid token request.", v.Errors())
		return
	}
	token, key, err := api.createAPIKey(r, user.ID, codersdk.LoginTypeToken, req.TokenName, req.Scope, req.Lifetime)
	if database.IsUniqueViolation(err, database.UniqueAPIKeyTokenName) {
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A token with this name already exists.",
			Validations: []codersdk.ValidationError{{Field: "token_name", Detail: "already in use"}}})
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create token", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "api_key", Target: key.ID, Action: codersdk.AuditActionCreate, Status: http.StatusCreated,
		Diff: map[string]any{"token_name": key.TokenName, "user": user.Username, "expires_at": key.ExpiresAt}})
	httpapi.Write(w, http.StatusCreated, codersdk.GenerateAPIKeyResponse{Key: token})
}

func (api *API) tokens(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	user := userParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceAPIKey, OwnerID: user.ID}) {
		httpapi.ResourceNotFound(w)
		return
	}
	keys, err := api.opts.DB.GetAPIKeysByUserID(r.Context(), user.ID, string(codersdk.LoginTypeToken))
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list tokens", err)
		return
	}
	out := make([]codersdk.APIKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, convertAPIKey(k))
	}
	httpapi.Write(w, http.StatusOK, out)
}

func (api *API) tokenByName(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	user := userParam(r)
	key, err := api.opts.DB.GetAPIKeyByName(r.Context(), user.ID, chi.URLParam(r, "keyname"))
	if errors.Is(err, database.ErrNotFound) || (err == nil && !rbac.Authorize(actor.Subject, rbac.ActionRead, apiKeyObject(key))) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get token", err)
		return
	}
	httpapi.Write(w, http.StatusOK, convertAPIKey(key))
}

func (api *API) deleteAPIKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	user := userParam(r)
	key, err := api.opts.DB.GetAPIKeyByID(ctx, chi.URLParam(r, "keyid"))
	if errors.Is(err, database.ErrNotFound) || (err == nil && (key.UserID != user.ID || !rbac.Authorize(actor.Subject, rbac.ActionRead, apiKeyObject(key)))) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get api key", err)
		return
	}
	if !rbac.Authorize(actor.Subject, rbac.ActionDelete, apiKeyObject(key)) {
		httpapi.Forbidden(w)
		return
	}
	if err := api.opts.DB.DeleteAPIKey(ctx, key.ID); err != nil && !errors.Is(err, database.ErrNotFound) {
		httpapi.InternalError(w, r, api.opts.Logger, "delete api key", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "api_key", Target: key.ID, Action: codersdk.AuditActionDelete, Status: http.StatusNoContent,
		Diff: map[string]any{"token_name": key.TokenName, "user": user.Username}})
	w.WriteHeader(http.StatusNoContent)
}

func convertAPIKey(k database.APIKey) codersdk.APIKey {
	return codersdk.APIKey{
		ID: k.ID, UserID: k.UserID, LastUsed: k.LastUsed, ExpiresAt: k.ExpiresAt, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt,
		LoginType: codersdk.LoginType(k.LoginType), Scope: codersdk.APIKeyScope(k.Scope), TokenName: k.TokenName, LifetimeSeconds: k.LifetimeSeconds,
	}
}
