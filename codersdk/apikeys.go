package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// APIKeyScope limits what a token may do.
type APIKeyScope string

// Token scopes.
const (
	APIKeyScopeAll                APIKeyScope = "all"
	APIKeyScopeApplicationConnect APIKeyScope = "application_connect"
)

// APIKey describes a session or a named token; never its secret.
type APIKey struct {
	ID              string      `json:"id"`
	UserID          uuid.UUID   `json:"user_id"`
	LastUsed        time.Time   `json:"last_used"`
	ExpiresAt       time.Time   `json:"expires_at"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
	LoginType       LoginType   `json:"login_type"`
	Scope           APIKeyScope `json:"scope"`
	TokenName       string      `json:"token_name"`
	LifetimeSeconds int64       `json:"lifetime_seconds"`
}

// CreateTokenRequest creates a named, long-lived token. Lifetime is in
// nanoseconds on the wire (a Go time.Duration), as in Coder.
type CreateTokenRequest struct {
	Lifetime  time.Duration `json:"lifetime"`
	Scope     APIKeyScope   `json:"scope,omitempty"`
	TokenName string        `json:"token_name"`
}

// GenerateAPIKeyResponse carries a new token; it is shown only once.
type GenerateAPIKeyResponse struct {
	Key string `json:"key"`
}

// CreateToken creates a named token for user.
func (c *Client) CreateToken(ctx context.Context, user string, req CreateTokenRequest) (GenerateAPIKeyResponse, error) {
	var out GenerateAPIKeyResponse
	return out, c.do(ctx, http.MethodPost, "/api/v2/users/"+url.PathEscape(user)+"/keys/tokens", req, http.StatusCreated, &out)
}

// Tokens lists user's named tokens.
func (c *Client) Tokens(ctx context.Context, user string) ([]APIKey, error) {
	var out []APIKey
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user)+"/keys/tokens", nil, http.StatusOK, &out)
}

// APIKeyByName returns one of user's tokens by its name.
func (c *Client) APIKeyByName(ctx context.Context, user, name string) (APIKey, error) {
	var out APIKey
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user)+"/keys/tokens/"+url.PathEscape(name), nil, http.StatusOK, &out)
}

// DeleteAPIKey revokes a token or session by its ID.
func (c *Client) DeleteAPIKey(ctx context.Context, user, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v2/users/"+url.PathEscape(user)+"/keys/"+url.PathEscape(id), nil, http.StatusNoContent, nil)
}
