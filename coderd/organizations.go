package coderd

import (
	"context"
	"net/http"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

func (api *API) organization(w http.ResponseWriter, r *http.Request) {
	httpapi.Write(w, http.StatusOK, convertOrganization(orgParam(r)))
}

func (api *API) userOrganizations(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	orgs, err := api.opts.DB.GetOrganizationsByUserID(ctx, userParam(r).ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list organizations", err)
		return
	}
	out := []codersdk.Organization{}
	for _, o := range orgs {
		if rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceOrganization, OrgID: o.ID}) {
			out = append(out, convertOrganization(o))
		}
	}
	httpapi.Write(w, http.StatusOK, out)
}

func convertOrganization(o database.Organization) codersdk.Organization {
	return codersdk.Organization{ID: o.ID, Name: o.Name, DisplayName: o.DisplayName, Description: o.Description,
		IsDefault: o.IsDefault, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func (api *API) convertUser(ctx context.Context, u database.User) codersdk.User {
	return api.convertUsers(ctx, []database.User{u})[0]
}

// convertUsers converts users with one membership query for the whole page.
func (api *API) convertUsers(ctx context.Context, users []database.User) []codersdk.User {
	ids := make([]uuid.UUID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	orgs, err := api.opts.DB.GetOrganizationIDsByUserIDs(ctx, ids)
	if err != nil {
		api.opts.Logger.WarnContext(ctx, "list memberships", "error", err)
	}
	display := map[string]string{}
	for _, r := range rbac.SiteRoles() {
		display[r.Name] = r.DisplayName
	}
	out := make([]codersdk.User, 0, len(users))
	for _, u := range users {
		roles := []codersdk.SlimRole{}
		for _, r := range u.RBACRoles {
			roles = append(roles, codersdk.SlimRole{Name: r, DisplayName: display[r]})
		}
		orgIDs := orgs[u.ID]
		if orgIDs == nil {
			orgIDs = []uuid.UUID{}
		}
		out = append(out, codersdk.User{
			ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt,
			LastSeenAt: u.LastSeenAt, Status: codersdk.UserStatus(u.Status), LoginType: codersdk.LoginType(u.LoginType),
			OrganizationIDs: orgIDs, Roles: roles,
		})
	}
	return out
}
