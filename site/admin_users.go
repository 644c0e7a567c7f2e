package site

import (
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

// adminUsersLimit is how many users one page of the list shows.
const adminUsersLimit = 50

type adminUsersData struct {
	Tab   adminTab
	Users []adminUserRow
	Pages pageLinks
	// Back is the list's address, where the row actions return.
	Back string
	// CanManage is whether the API lets the caller grant any role, which
	// only those who manage users may: the create form and the row
	// actions are offered to them alone. The API still decides each
	// action; this only spares others forms that would be refused.
	CanManage bool
	// Query and Status are the list's filter, kept in the form.
	Query    string
	Status   string
	Statuses []codersdk.UserStatus
	// New is the create form's input, kept when the API refuses it (the
	// password never is).
	New newUserForm
}

// adminUserRow is one user with the role checkboxes of its roles form.
type adminUserRow struct {
	codersdk.User
	Roles []roleBox
}

// roleBox is one site role on a user's roles form. A role the caller may
// not grant or revoke is shown disabled, and sent as it is (a hidden
// field), so saving the form never asks the API to change it.
type roleBox struct {
	Name, DisplayName string
	Checked           bool
	Assignable        bool
}

type newUserForm struct {
	Username, Email string
}

// userListQuery is the list's filter as submitted.
type userListQuery struct {
	q, status, offset string
}

func listQuery(r *http.Request) userListQuery {
	q := r.URL.Query()
	return userListQuery{q: strings.TrimSpace(q.Get("q")), status: q.Get("status"), offset: q.Get("offset")}
}

func (s *Site) adminUsersPage(w http.ResponseWriter, r *http.Request) {
	v := view{}
	if name := r.URL.Query().Get("created"); name != "" {
		// Shown only when the user exists: the link cannot put words in
		// the page.
		if u, err := s.client(currentUser(r.Context()).Token).User(r.Context(), name); err == nil {
			v.Flash = "User " + u.Username + " created."
		}
	}
	s.renderAdminUsers(w, r, http.StatusOK, v, listQuery(r), newUserForm{})
}

// renderAdminUsers shows the list filtered by lq, with v's messages, the
// create form holding form. A list the API refuses is answered with the
// API's status; a bad filter is shown by its field.
func (s *Site) renderAdminUsers(w http.ResponseWriter, r *http.Request, status int, v view, lq userListQuery, form newUserForm) {
	ctx := r.Context()
	c := s.client(currentUser(ctx).Token)
	data := adminUsersData{Tab: "users", Query: lq.q, Status: lq.status, New: form,
		Statuses: []codersdk.UserStatus{codersdk.UserStatusActive, codersdk.UserStatusSuspended, codersdk.UserStatusDormant}}
	offset, bad := parseOffset(lq.offset)
	if v.FieldErrors == nil {
		v.FieldErrors = map[string]string{}
	}
	if bad != "" {
		v.FieldErrors["offset"] = bad
		status = http.StatusBadRequest
	}
	res, err := c.Users(ctx, codersdk.UsersRequest{Search: lq.q, Status: codersdk.UserStatus(lq.status), Limit: adminUsersLimit, Offset: offset})
	switch {
	case err != nil && isAPIRefusal(err):
		s.renderAPIError(w, r, err)
		return
	case err != nil:
		msg, fields := fieldErrors(err)
		if len(fields) == 0 {
			s.renderAPIError(w, r, err)
			return
		}
		for k, f := range fields {
			v.FieldErrors[k] = f
		}
		if v.Error == "" {
			v.Error = msg
		}
		if status < 400 {
			status = apiStatus(err, http.StatusBadRequest)
		}
	}
	roles, rolesErr := c.ListSiteRoles(ctx)
	if rolesErr != nil {
		s.renderAPIError(w, r, rolesErr)
		return
	}
	data.CanManage = slices.ContainsFunc(roles, func(r codersdk.AssignableRoles) bool { return r.Assignable })
	if err == nil {
		base := map[string][]string{"q": {lq.q}, "status": {lq.status}}
		data.Pages = paginate("/admin/users", base, offset, adminUsersLimit, len(res.Users), int64(res.Count))
		data.Back = "/admin/users"
		if q := r.URL.RawQuery; q != "" && r.Method == http.MethodGet {
			data.Back += "?" + q
		}
		for _, u := range res.Users {
			row := adminUserRow{User: u}
			for _, role := range roles {
				held := slices.ContainsFunc(u.Roles, func(r codersdk.SlimRole) bool { return r.Name == role.Name })
				row.Roles = append(row.Roles, roleBox{Name: role.Name, DisplayName: role.DisplayName, Checked: held, Assignable: role.Assignable})
			}
			data.Users = append(data.Users, row)
		}
	}
	v.Title = "Users"
	v.Data = data
	s.render(w, r, status, "admin_users", v)
}

func (s *Site) postAdminUser(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	form := newUserForm{Username: strings.TrimSpace(r.PostForm.Get("username")), Email: strings.TrimSpace(r.PostForm.Get("email"))}
	_, err := s.client(currentUser(r.Context()).Token).CreateUser(r.Context(), codersdk.CreateUserRequestWithOrgs{
		Username: form.Username, Email: form.Email, Password: r.PostForm.Get("password"),
	})
	if err != nil {
		if isAPIRefusal(err) {
			s.renderAPIError(w, r, err)
			return
		}
		msg, fields := fieldErrors(err)
		s.renderAdminUsers(w, r, apiStatus(err, http.StatusBadGateway), view{Error: msg, FieldErrors: fields}, userListQuery{}, form)
		return
	}
	http.Redirect(w, r, "/admin/users?created="+urlQueryEscape(form.Username)+"&q="+urlQueryEscape(form.Username), http.StatusSeeOther)
}

// backToUsers is where a user action returns: the list as it was filtered
// (the form's "back"), never another site.
func backToUsers(r *http.Request) string {
	back := safeRedirect(r.PostForm.Get("back"), "/admin/users")
	if !strings.HasPrefix(back, "/admin/users") {
		return "/admin/users"
	}
	return back
}

func (s *Site) postAdminUserStatus(status codersdk.UserStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
			return
		}
		_, err := s.client(currentUser(r.Context()).Token).UpdateUserStatus(r.Context(), chi.URLParam(r, "user"), status)
		if err != nil {
			s.adminUserActionError(w, r, err)
			return
		}
		http.Redirect(w, r, backToUsers(r), http.StatusSeeOther)
	}
}

func (s *Site) postAdminUserRoles(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	roles := []string{}
	for _, role := range r.PostForm["roles"] {
		if role != "" && !slices.Contains(roles, role) {
			roles = append(roles, role)
		}
	}
	_, err := s.client(currentUser(r.Context()).Token).UpdateUserRoles(r.Context(), chi.URLParam(r, "user"), codersdk.UpdateRoles{Roles: roles})
	if err != nil {
		s.adminUserActionError(w, r, err)
		return
	}
	http.Redirect(w, r, backToUsers(r), http.StatusSeeOther)
}

// adminUserActionError answers a refused user action: refusals of the
// caller (404, 403) as the API's page; anything else ("you cannot suspend
// yourself") above the list, with the API's status.
func (s *Site) adminUserActionError(w http.ResponseWriter, r *http.Request, err error) {
	if isAPIRefusal(err) || apiStatus(err, 0) == 0 {
		s.renderAPIError(w, r, err)
		return
	}
	msg, _ := fieldErrors(err)
	s.renderAdminUsers(w, r, apiStatus(err, http.StatusBadRequest), view{Error: msg}, userListQuery{}, newUserForm{})
}
