package coderd

import (
	"errors"
	"net/http"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/gitsshkey"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// mayManageGitSSHKey reports whether the caller may see and replace user's
// git SSH key. The key is one of the user's credentials, so it follows who
// may change the user (the user, user admins, owners), not who may read
// the user: template admins and auditors read every user but not their
// keys, and get 404 like anyone else, so a key's existence does not leak.
func mayManageGitSSHKey(actor httpmw.Actor, user database.User) bool {
	return rbac.Authorize(actor.Subject, rbac.ActionUpdate, userObject(user))
}

// gitSSHKey answers GET /users/{user}/gitsshkey: the public half, made on
// first read (see package gitsshkey for why not at user creation).
func (api *API) gitSSHKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	user := userParam(r)
	if !mayManageGitSSHKey(actor, user) {
		httpapi.ResourceNotFound(w)
		return
	}
	key, err := gitsshkey.Ensure(ctx, api.opts.DB, user.ID, api.now())
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get git ssh key", err)
		return
	}
	httpapi.Write(w, http.StatusOK, convertGitSSHKey(key))
}

// regenerateGitSSHKey answers PUT /users/{user}/gitsshkey: a new pair
// replaces the old one (it takes no body). Workspaces pick the new private
// key up on their next git operation (the agent asks each time) and
// templates on their next build.
func (api *API) regenerateGitSSHKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	user := userParam(r)
	if !mayManageGitSSHKey(actor, user) {
		httpapi.ResourceNotFound(w)
		return
	}
	// The old public key is only for the audit entry: none yet is "".
	old, err := api.opts.DB.GetGitSSHKey(ctx, user.ID)
	if err != nil && !errors.Is(err, database.ErrNotFound) {
		httpapi.InternalError(w, r, api.opts.Logger, "get git ssh key", err)
		return
	}
	key, err := gitsshkey.Regenerate(ctx, api.opts.DB, user.ID, api.now())
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "regenerate git ssh key", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "user", ResourceID: &user.ID, Target: user.Username, Action: codersdk.AuditActionWrite,
		Status: http.StatusOK, Diff: map[string]any{"git_ssh_public_key": map[string]string{"old": old.PublicKey, "new": key.PublicKey}}})
	httpapi.Write(w, http.StatusOK, convertGitSSHKey(key))
}

// agentGitSSHKey answers GET /workspaceagents/me/gitsshkey: the workspace
// owner's key pair, private half included, for git over SSH inside the
// workspace. Only the agent of a workspace's latest build gets here.
func (api *API) agentGitSSHKey(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ac := agentFrom(r)
	key, err := gitsshkey.Ensure(ctx, api.opts.DB, ac.Workspace.OwnerID, api.now())
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get owner git ssh key", err)
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.AgentGitSSHKey{PublicKey: key.PublicKey, PrivateKey: key.PrivateKey})
}

func convertGitSSHKey(k database.GitSSHKey) codersdk.GitSSHKey {
	return codersdk.GitSSHKey{UserID: k.UserID, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, PublicKey: k.PublicKey}
}
