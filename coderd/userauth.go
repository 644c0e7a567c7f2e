package coderd

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/userpassword"
	"github.com/opencoder/coder/codersdk"
)

// dummyHash is compared against when the user does not exist, so a login
// for an unknown email takes as long as one with a wrong password. It is
// made on the first such login, not at package init: every process that
// links coderd (the agent, every CLI command and metadata script) would
// otherwise pay an argon2id hash, 0.1-0.6 s, before main.
var dummyHash = sync.OnceValue(func() string {
	h, _ := userpassword.Hash("not-a-real-password", userpassword.Default)
	return h
})

func (api *API) authMethods(w http.ResponseWriter, _ *http.Request) {
	httpapi.Write(w, http.StatusOK, codersdk.AuthMethods{Password: codersdk.AuthMethod{Enabled: true}})
}

func (api *API) postLogin(w http.ResponseWriter, r *http.Request) {
	var req codersdk.LoginWithPasswordRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	switch {
	case req.Email == "":
		v.Add("email", "is required")
	case strings.IndexByte(req.Email, 0) >= 0:
		// PostgreSQL text cannot hold NUL: no account matches, and the
		// lookup would fail as a 500.
		v.Add("email", "must not contain NUL characters")
	}
	if req.Password == "" {
		v.Add("password", "is required")
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid login request.", v.Errors())
		return
	}
	ctx := r.Context()
	// Accept a username too: people type either.
	user, err := api.opts.DB.GetUserByEmailOrUsername(ctx, req.Email, req.Email)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		httpapi.InternalError(w, r, api.opts.Logger, "look up user", err)
		return
	}
	found := err == nil
	dummy := dummyHash()
	hash := dummy
	if found && user.LoginType == string(codersdk.LoginTypePassword) && len(user.HashedPassword) > 0 {
		hash = string(user.HashedPassword)
	}
	cmpErr := userpassword.Compare(hash, req.Password)
	if !found || cmpErr != nil || hash == dummy {
		if cmpErr != nil && !errors.Is(cmpErr, userpassword.ErrMismatch) {
			api.opts.Logger.WarnContext(ctx, "stored password hash unreadable", "user_id", user.ID, "error", cmpErr)
		}
		var uid *uuid.UUID
		if found {
			uid = &user.ID
		}
		api.audit(r, auditEntry{UserID: uid, ResourceType: "api_key", Action: codersdk.AuditActionLogin, Status: http.StatusUnauthorized,
			Target: req.Email, Fields: map[string]any{"reason": "bad credentials"}})
		httpapi.Error(w, http.StatusUnauthorized, "Incorrect email or password.")
		return
	}
	if user.Status == string(codersdk.UserStatusSuspended) {
		api.audit(r, auditEntry{UserID: &user.ID, ResourceType: "api_key", Action: codersdk.AuditActionLogin, Status: http.StatusUnauthorized,
			Target: user.Username, Fields: map[string]any{"reason": "suspended"}})
		httpapi.Error(w, http.StatusUnauthorized, "Your account is suspended.", "Contact an administrator to reactivate it.")
		return
	}
	if user.Status == string(codersdk.UserStatusDormant) {
		if _, err := api.opts.DB.UpdateUserStatus(ctx, user.ID, string(codersdk.UserStatusActive), api.now()); err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "reactivate dormant user", err)
			return
		}
	}
	token, key, err := api.createAPIKey(r, user.ID, codersdk.LoginTypePassword, "", codersdk.APIKeyScopeAll, api.opts.SessionLifetime)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create session", err)
		return
	}
	api.audit(r, auditEntry{UserID: &user.ID, ResourceType: "api_key", Action: codersdk.AuditActionLogin, Status: http.StatusCreated, Target: key.ID})
	http.SetCookie(w, &http.Cookie{
		Name: codersdk.SessionTokenCookie, Value: token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: api.opts.AccessURL.Scheme == "https", Expires: key.ExpiresAt,
	})
	httpapi.Write(w, http.StatusCreated, codersdk.LoginWithPasswordResponse{SessionToken: token})
}

func (api *API) postLogout(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	err := api.opts.DB.DeleteAPIKey(r.Context(), actor.APIKey.ID)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		httpapi.InternalError(w, r, api.opts.Logger, "delete session", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: codersdk.SessionTokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	api.audit(r, auditEntry{UserID: &actor.User.ID, ResourceType: "api_key", Action: codersdk.AuditActionLogout, Status: http.StatusOK, Target: actor.APIKey.ID})
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Logged out."})
}

// createAPIKey stores a new key and returns the token to hand out once.
func (api *API) createAPIKey(r *http.Request, userID uuid.UUID, lt codersdk.LoginType, name string, scope codersdk.APIKeyScope, lifetime time.Duration) (string, database.APIKey, error) {
	id, secret, hashed, err := apikey.Generate()
	if err != nil {
		return "", database.APIKey{}, err
	}
	now := api.now()
	key, err := api.opts.DB.InsertAPIKey(r.Context(), database.APIKey{
		ID: id, HashedSecret: hashed, UserID: userID, LoginType: string(lt), TokenName: name,
		Scope: string(scope), LifetimeSeconds: int64(lifetime.Seconds()), ExpiresAt: now.Add(lifetime),
		LastUsed: now, IPAddress: httpmw.RemoteIP(r), CreatedAt: now,
	})
	if err != nil {
		return "", database.APIKey{}, err
	}
	return apikey.Token(id, secret), key, nil
}
