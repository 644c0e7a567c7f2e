package site

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

// The admin pages (/admin/...) manage the deployment: users, the audit
// log, provisioners and health. They decide nothing about who may see
// them: each page makes the API call it shows, as the signed-in user, and
// a caller the API refuses gets the API's answer (a 404 or 403 page). The
// nav links are a convenience for the roles that can use them.
func (s *Site) adminRoutes(r chi.Router) {
	r.Get("/admin", func(w http.ResponseWriter, r *http.Request) {
		target := "/admin/users"
		if u := currentUser(r.Context()); !u.IsOwner() && u.HasRole(codersdk.RoleAuditor) {
			target = "/admin/audit"
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
	r.Get("/admin/users", s.adminUsersPage)
	r.Post("/admin/users", s.postAdminUser)
	r.Post("/admin/users/{user}/suspend", s.postAdminUserStatus(codersdk.UserStatusSuspended))
	r.Post("/admin/users/{user}/activate", s.postAdminUserStatus(codersdk.UserStatusActive))
	r.Post("/admin/users/{user}/roles", s.postAdminUserRoles)
	r.Get("/admin/audit", s.adminAuditPage)
	r.Get("/admin/provisioners", s.adminProvisionersPage)
	r.Post("/admin/provisioners/{org}/keys", s.postAdminProvisionerKey)
	r.Post("/admin/provisioners/{org}/keys/{name}/delete", s.postAdminDeleteProvisionerKey)
	r.Get("/admin/health", s.adminHealthPage)
}

// HasRole reports whether the caller holds the site role name.
func (u user) HasRole(name string) bool {
	for _, r := range u.Roles {
		if r.Name == name {
			return true
		}
	}
	return false
}

// adminTab names the admin page being shown, for the admin sub-navigation.
type adminTab string

// pageLinks are the previous and next pages of a paginated list ("" when
// there is none).
type pageLinks struct {
	Prev, Next string
	From, To   int
	Total      int64
}

// paginate builds the links around offset for a list of total items
// shown limit at a time; base is the page's query without offset.
func paginate(path string, base url.Values, offset, limit, shown int, total int64) pageLinks {
	link := func(off int) string {
		q := url.Values{}
		for k, v := range base {
			if len(v) > 0 && v[0] != "" {
				q[k] = v
			}
		}
		if off > 0 {
			q.Set("offset", strconv.Itoa(off))
		}
		if len(q) == 0 {
			return path
		}
		return path + "?" + q.Encode()
	}
	p := pageLinks{From: offset + 1, To: offset + shown, Total: total}
	if shown == 0 {
		p.From = offset
	}
	if offset > 0 {
		p.Prev = link(max(offset-limit, 0))
	}
	if int64(offset+shown) < total && shown > 0 {
		p.Next = link(offset + shown)
	}
	return p
}

// parseOffset reads a non-negative offset; ok is false (with the reason)
// when it is not one.
func parseOffset(s string) (int, string) {
	if s == "" {
		return 0, ""
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, "must be a whole number, 0 or more"
	}
	return n, ""
}

// apiStatus is the HTTP status of an API error, fallback when err is not
// one.
func apiStatus(err error, fallback int) int {
	var apiErr *codersdk.Error
	if asAPIError(err, &apiErr) {
		return apiErr.StatusCode()
	}
	return fallback
}

// isAPIRefusal reports whether err is the API refusing the caller (404,
// 403): the page then answers with the API's status and message alone.
func isAPIRefusal(err error) bool {
	s := apiStatus(err, 0)
	return s == http.StatusNotFound || s == http.StatusForbidden || s == http.StatusUnauthorized
}
