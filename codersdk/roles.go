package codersdk

import (
	"context"
	"net/http"
)

// Site-wide role names, as in Coder.
const (
	RoleOwner         = "owner"
	RoleMember        = "member"
	RoleTemplateAdmin = "template-admin"
	RoleUserAdmin     = "user-admin"
	RoleAuditor       = "auditor"
)

// AssignableRoles is a role and whether the caller may grant it.
type AssignableRoles struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Assignable  bool   `json:"assignable"`
	// BuiltIn roles cannot be edited or deleted.
	BuiltIn bool `json:"built_in"`
}

// ListSiteRoles lists the site-wide roles and which the caller may grant.
func (c *Client) ListSiteRoles(ctx context.Context) ([]AssignableRoles, error) {
	var out []AssignableRoles
	return out, c.do(ctx, http.MethodGet, "/api/v2/users/roles", nil, http.StatusOK, &out)
}
