package codersdk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Me names the caller wherever an API path takes a user.
const Me = "me"

// UserStatus is whether a user may log in.
type UserStatus string

// User statuses.
const (
	UserStatusActive    UserStatus = "active"
	UserStatusSuspended UserStatus = "suspended"
	UserStatusDormant   UserStatus = "dormant"
)

// LoginType is how a user authenticates.
type LoginType string

// Login types.
const (
	LoginTypePassword LoginType = "password"
	LoginTypeToken    LoginType = "token"
	LoginTypeNone     LoginType = "none"
)

// SlimRole is a role as shown on a user.
type SlimRole struct {
	Name           string `json:"name"`
	DisplayName    string `json:"display_name"`
	OrganizationID string `json:"organization_id,omitempty"`
}

// User is a person (or service account) with an account.
type User struct {
	ID              uuid.UUID   `json:"id"`
	Username        string      `json:"username"`
	Email           string      `json:"email"`
	Name            string      `json:"name"`
	AvatarURL       string      `json:"avatar_url"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
	LastSeenAt      time.Time   `json:"last_seen_at"`
	Status          UserStatus  `json:"status"`
	LoginType       LoginType   `json:"login_type"`
	OrganizationIDs []uuid.UUID `json:"organization_ids"`
	Roles           []SlimRole  `json:"roles"`
}

// CreateFirstUserRequest sets up a new deployment's first owner.
type CreateFirstUserRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Name     string `json:"name,omitempty"`
	Password string `json:"password"`
}

// CreateFirstUserResponse names the owner and the default organization.
type CreateFirstUserResponse struct {
	UserID         uuid.UUID `json:"user_id"`
	OrganizationID uuid.UUID `json:"organization_id"`
}

// CreateUserRequestWithOrgs creates a user in the given organizations (the
// default one when empty).
type CreateUserRequestWithOrgs struct {
	Email           string      `json:"email"`
	Username        string      `json:"username"`
	Name            string      `json:"name,omitempty"`
	Password        string      `json:"password,omitempty"`
	UserLoginType   LoginType   `json:"login_type,omitempty"`
	OrganizationIDs []uuid.UUID `json:"organization_ids,omitempty"`
}

// LoginWithPasswordRequest logs in with email and password.
type LoginWithPasswordRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginWithPasswordResponse carries the new session token.
type LoginWithPasswordResponse struct {
	SessionToken string `json:"session_token"`
}

// UpdateRoles replaces a user's site-wide roles.
type UpdateRoles struct {
	Roles []string `json:"roles"`
}

// UsersRequest filters and pages the user list.
type UsersRequest struct {
	// Search matches username or email (substring, case-insensitive).
	Search string
	Status UserStatus
	Limit  int
	Offset int
}

// GetUsersResponse is one page of users and the total count.
type GetUsersResponse struct {
	Users []User `json:"users"`
	Count int    `json:"count"`
}

// AuthMethods says which login methods the deployment offers.
type AuthMethods struct {
	Password AuthMethod `json:"password"`
}

// AuthMethod is one login method.
type AuthMethod struct {
	Enabled bool `json:"enabled"`
}

// HasFirstUser reports whether the deployment has its first owner yet.
func (c *Client) HasFirstUser(ctx context.Context) (bool, error) {
	resp, err := c.Request(ctx, http.MethodGet, "/api/v2/users/first", nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		// A server that is not coderd answers 404 too: tell them apart by
		// the JSON error body.
		if err := ReadBodyAsError(resp); err != nil {
			var apiErr *Error
			if e, ok := err.(*Error); ok {
				apiErr = e
			}
			if apiErr == nil || apiErr.Message == "unexpected non-JSON response" {
				return false, fmt.Errorf("%s does not look like a coder deployment: %w", c.URL, err)
			}
		}
		return false, nil
	default:
		return false, ReadBodyAsError(resp)
	}
}

// CreateFirstUser creates the deployment's first owner; it works once.
func (c *Client) CreateFirstUser(ctx context.Context, req CreateFirstUserRequest) (CreateFirstUserResponse, error) {
	var out CreateFirstUserResponse
	return out, c.do(ctx, http.MethodPost, "/api/v2/users/first", req, http.StatusCreated, &out)
}

// LoginWithPassword exchanges email and password for a session token.
func (c *Client) LoginWithPassword(ctx context.Context, req LoginWithPasswordRequest) (LoginWithPasswordResponse, error) {
	var out LoginWithPasswordResponse
	return out, c.do(ctx, http.MethodPost, "/api/v2/users/login", req, http.StatusCreated, &out)
}

// Logout ends the current session: its token stops working.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/v2/users/logout", nil, http.StatusOK, nil)
}

// AuthMethods lists the login methods on offer.
func (c *Client) AuthMethods(ctx context.Context) (AuthMethods, error) {
	var out AuthMethods
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/authmethods", nil, http.StatusOK, &out)
}

// User returns a user by "me", ID or username.
func (c *Client) User(ctx context.Context, user string) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user), nil, http.StatusOK, &out)
}

// Users lists the users the caller may see.
func (c *Client) Users(ctx context.Context, req UsersRequest) (GetUsersResponse, error) {
	var out GetUsersResponse
	opts := []RequestOption{WithQueryParam("q", req.Search), WithQueryParam("status", string(req.Status))}
	if req.Limit > 0 {
		opts = append(opts, WithQueryParam("limit", strconv.Itoa(req.Limit)))
	}
	if req.Offset > 0 {
		opts = append(opts, WithQueryParam("offset", strconv.Itoa(req.Offset)))
	}
	return out, c.do(ctx, http.MethodGet, "/api/v2/users", nil, http.StatusOK, &out, opts...)
}

// CreateUser creates a user (owner or user-admin only).
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequestWithOrgs) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodPost, "/api/v2/users", req, http.StatusCreated, &out)
}

// UpdateUserStatus suspends ("suspended") or reactivates ("active") a user.
func (c *Client) UpdateUserStatus(ctx context.Context, user string, status UserStatus) (User, error) {
	var verb string
	switch status {
	case UserStatusActive:
		verb = "activate"
	case UserStatusSuspended:
		verb = "suspend"
	default:
		return User{}, fmt.Errorf("unsupported user status %q", status)
	}
	var out User
	return out, c.do(ctx, http.MethodPut, "/api/v2/users/"+url.PathEscape(user)+"/status/"+verb, nil, http.StatusOK, &out)
}

// UpdateUserRoles replaces a user's site-wide roles.
func (c *Client) UpdateUserRoles(ctx context.Context, user string, req UpdateRoles) (User, error) {
	var out User
	return out, c.do(ctx, http.MethodPut, "/api/v2/users/"+url.PathEscape(user)+"/roles", req, http.StatusOK, &out)
}
