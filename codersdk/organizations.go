package codersdk

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Organization groups users, templates and workspaces. A deployment starts
// with one default organization.
type Organization struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name"`
	Description string    `json:"description"`
	IsDefault   bool      `json:"is_default"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Organizations lists the organizations the caller belongs to.
func (c *Client) OrganizationsByUser(ctx context.Context, user string) ([]Organization, error) {
	var out []Organization
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user)+"/organizations", nil, http.StatusOK, &out)
}

// Organization returns an organization by ID or name.
func (c *Client) Organization(ctx context.Context, org string) (Organization, error) {
	var out Organization
	return out, c.do(ctx, http.MethodGet, "/api/v2/organizations/"+url.PathEscape(org), nil, http.StatusOK, &out)
}
