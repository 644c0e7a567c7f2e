package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// GitSSHKey is a user's git SSH public key, made by the server on first
// use. Users add PublicKey (one authorized_keys line) to their git
// provider; their workspaces use the matching private key, which this type
// never carries.
type GitSSHKey struct {
	UserID    uuid.UUID `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	PublicKey string    `json:"public_key"`
}

// AgentGitSSHKey is the workspace owner's key pair as a workspace agent
// receives it (agent token only). PrivateKey is in OpenSSH PEM format.
type AgentGitSSHKey struct {
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key"`
}

// GitSSHKey returns user's git SSH public key, making the pair if the user
// has none yet.
func (c *Client) GitSSHKey(ctx context.Context, user string) (GitSSHKey, error) {
	var out GitSSHKey
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user)+"/gitsshkey", nil, http.StatusOK, &out)
}

// RegenerateGitSSHKey replaces user's key pair with a new one and returns
// the new public key; the old one stops working wherever it was added.
func (c *Client) RegenerateGitSSHKey(ctx context.Context, user string) (GitSSHKey, error) {
	var out GitSSHKey
	return out, c.do(ctx, http.MethodPut, "/api/v2/users/"+url.PathEscape(user)+"/gitsshkey", nil, http.StatusOK, &out)
}

// AgentGitSSHKey returns the workspace owner's key pair (agent token).
func (c *Client) AgentGitSSHKey(ctx context.Context) (AgentGitSSHKey, error) {
	var out AgentGitSSHKey
	return out, c.do(ctx, http.MethodGet, "/api/v2/workspaceagents/me/gitsshkey", nil, http.StatusOK, &out)
}
