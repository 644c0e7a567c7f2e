package coderd

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/coderd/userpassword"
	"github.com/opencoder/coder/codersdk"
)

// firstUserLock serialises first-user creation across replicas.
const firstUserLock int64 = 0x6669727374757372

func (api *API) firstUser(w http.ResponseWriter, r *http.Request) {
	n, err := api.opts.DB.CountUsers(r.Context())
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "count users", err)
		return
	}
	if n == 0 {
		httpapi.Error(w, http.StatusNotFound, "The initial user has not been created!")
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "The initial user has already been created!"})
}

func (api *API) postFirstUser(w http.ResponseWriter, r *http.Request) {
	var req codersdk.CreateFirstUserRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	validateNewUser(&v, req.Username, req.Email, req.Name, req.Password, true)
	if !v.OK() {
		httpapi.Validation(w, "Invalid first user.", v.Errors())
		return
	}
	hash, err := userpassword.Hash(req.Password, api.opts.PasswordParams)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "hash password", err)
		return
	}
	var (
		user    database.User
		org     database.Organization
		already bool
	)
	err = api.opts.DB.InTx(r.Context(), func(tx *database.Store) error {
		if err := tx.AdvisoryXactLock(r.Context(), firstUserLock); err != nil {
			return err
		}
		n, err := tx.CountUsers(r.Context())
		if err != nil {
			return err
		}
		if n > 0 {
			already = true
			return nil
		}
		org, err = tx.EnsureDefaultOrganization(r.Context(), api.now())
		if err != nil {
			return err
		}
		user, err = tx.InsertUser(r.Context(), database.User{
			ID: uuid.New(), Email: req.Email, Username: req.Username, Name: req.Name, HashedPassword: []byte(hash),
			Status: string(codersdk.UserStatusActive), RBACRoles: []string{codersdk.RoleOwner},
			LoginType: string(codersdk.LoginTypePassword), CreatedAt: api.now(),
		})
		if err != nil {
			return err
		}
		return tx.InsertOrganizationMember(r.Context(), database.OrganizationMember{OrganizationID: org.ID, UserID: user.ID, CreatedAt: api.now()})
	})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "create first user", err)
		return
	}
	if already {
		httpapi.Error(w, http.StatusConflict, "The initial user has already been created.", "Log in instead, with 'coder login'.")
		return
	}
	api.audit(r, auditEntry{UserID: &user.ID, ResourceType: "user", ResourceID: &user.ID, Target: user.Username,
		Action: codersdk.AuditActionRegister, Status: http.StatusCreated, Diff: map[string]any{"roles": user.RBACRoles}})
	httpapi.Write(w, http.StatusCreated, codersdk.CreateFirstUserResponse{UserID: user.ID, OrganizationID: org.ID})
}

func validateNewUser(v *httpapi.Validator, username, email, name, password string, needPassword bool) {
	v.Username("username", username)
	v.Email("email", email)
	v.Text("name", name, 128)
	if needPassword || password != "" {
		v.Password("password", password, username, email)
	}
}

func (api *API) postUser(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceUser}) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.CreateUserRequestWithOrgs
	if !httpapi.Read(w, r, &req) {
		return
	}
	if req.UserLoginType == "" {
		req.UserLoginType = codersdk.LoginTypePassword
	}
	var v httpapi.Validator
	switch req.UserLoginType {
	case codersdk.LoginTypePassword:
		validateNewUser(&v, req.Username, req.Email, req.Name, req.Password, true)
	case codersdk.LoginTypeNone:
		validateNewUser(&v, req.Username, req.Email, req.Name, "", false)
		if req.Password != "" {
			v.Add("password", "must be empty for login_type %q", req.UserLoginType)
		}
	default:
		v.Add("login_type", "must be %q or %q", codersdk.LoginTypePassword, codersdk.LoginTypeNone)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid user.", v.Errors())
		return
	}
	ctx := r.Context()
	orgIDs := req.OrganizationIDs
	if len(orgIDs) == 0 {
		org, err := api.opts.DB.EnsureDefaultOrganization(ctx, api.now())
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "get default organization", err)
			return
		}
		orgIDs = []uuid.UUID{org.ID}
	}
	for i, id := range orgIDs {
		if _, err := api.opts.DB.GetOrganizationByID(ctx, id); err != nil {
			if errors.Is(err, database.ErrNotFound) {
				httpapi.Validation(w, "Invalid user.", []codersdk.ValidationError{{Field: "organization_ids[" + strconv.Itoa(i) + "]", Detail: "organization does not exist"}})
				return
			}
			httpapi.InternalError(w, r, api.opts.Logger, "get organization", err)
			return
		}
	}
	var hash []byte
	if req.Password != "" {
		h, err := userpassword.Hash(req.Password, api.opts.PasswordParams)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "hash password", err)
			return
		}
		hash = []byte(h)
	}
	var user database.User
	err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		var err error
		user, err = tx.InsertUser(ctx, database.User{
			ID: uuid.New(), Email: req.Email, Username: req.Username, Name: req.Name, HashedPassword: hash,
			Status: string(codersdk.UserStatusActive), LoginType: string(req.UserLoginType), CreatedAt: api.now(),
		})
		if err != nil {
			return err
		}
		for _, id := range slices.Compact(slices.Clone(orgIDs)) {
			if err := tx.InsertOrganizationMember(ctx, database.OrganizationMember{OrganizationID: id, UserID: user.ID, CreatedAt: api.now()}); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case database.IsUniqueViolation(err, database.UniqueUsersUsername):
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A user with this username already exists.",
			Validations: []codersdk.ValidationError{{Field: "username", Detail: "already taken"}}})
		return
	case database.IsUniqueViolation(err, database.UniqueUsersEmail):
		httpapi.Write(w, http.StatusConflict, codersdk.Response{Message: "A user with this email already exists.",
			Validations: []codersdk.ValidationError{{Field: "email", Detail: "already taken"}}})
		return
	case err != nil:
		httpapi.InternalError(w, r, api.opts.Logger, "create user", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "user", ResourceID: &user.ID, Target: user.Username, Action: codersdk.AuditActionCreate,
		Status: http.StatusCreated, Diff: map[string]any{"username": user.Username, "email": user.Email, "login_type": user.LoginType}})
	httpapi.Write(w, http.StatusCreated, api.convertUser(ctx, user))
}

// extractUserParam resolves {user}: "me", an ID or a username.
func (api *API) extractUserParam(next http.Handler) http.Handler {
	return extractParam(api, "user", "user", func(ctx context.Context, actor httpmw.Actor, param string) (database.User, error) {
		switch {
		case param == codersdk.Me:
			return actor.User, nil
		case len(param) > 128:
			return database.User{}, database.ErrNotFound
		}
		if id, err := uuid.Parse(param); err == nil {
			return api.opts.DB.GetUserByID(ctx, id)
		}
		return api.opts.DB.GetUserByEmailOrUsername(ctx, "", param)
	}, userObject)(next)
}

func userParam(r *http.Request) database.User { return paramFrom[database.User](r) }

func userObject(u database.User) rbac.Object {
	return rbac.Object{Type: rbac.ResourceUser, OwnerID: u.ID}
}

func (api *API) user(w http.ResponseWriter, r *http.Request) {
	httpapi.Write(w, http.StatusOK, api.convertUser(r.Context(), userParam(r)))
}

func (api *API) users(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	limit, offset, ok := pagination(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := database.UsersFilter{Search: q.Get("q"), Status: q.Get("status"), Limit: limit, Offset: offset}
	if len(f.Search) > 256 {
		httpapi.Validation(w, "Invalid query.", []codersdk.ValidationError{{Field: "q", Detail: "must be at most 256 characters"}})
		return
	}
	switch codersdk.UserStatus(f.Status) {
	case "", codersdk.UserStatusActive, codersdk.UserStatusSuspended, codersdk.UserStatusDormant:
	default:
		httpapi.Validation(w, "Invalid query.", []codersdk.ValidationError{{Field: "status", Detail: "must be active, suspended or dormant"}})
		return
	}
	// Callers who may not read every user see only themselves.
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceUser}) {
		f.OnlyID = actor.User.ID
	}
	rows, count, err := api.opts.DB.GetUsers(r.Context(), f)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list users", err)
		return
	}
	out := codersdk.GetUsersResponse{Users: api.convertUsers(r.Context(), rows), Count: count}
	httpapi.Write(w, http.StatusOK, out)
}

func (api *API) putUserStatus(status codersdk.UserStatus) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		actor, _ := httpmw.ActorFrom(ctx)
		user := userParam(r)
		if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, rbac.Object{Type: rbac.ResourceUser}) {
			httpapi.Forbidden(w)
			return
		}
		if status == codersdk.UserStatusSuspended {
			if user.ID == actor.User.ID {
				httpapi.Error(w, http.StatusBadRequest, "You cannot suspend yourself.")
				return
			}
			if slices.Contains(user.RBACRoles, codersdk.RoleOwner) && !slices.Contains(actor.Subject.Roles, codersdk.RoleOwner) {
				httpapi.Forbidden(w)
				return
			}
		}
		var updated database.User
		err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
			var err error
			updated, err = tx.UpdateUserStatus(ctx, user.ID, string(status), api.now())
			if err != nil {
				return err
			}
			if status == codersdk.UserStatusSuspended {
				// A suspended user's sessions and tokens stop working at once.
				return tx.DeleteAPIKeysByUserID(ctx, user.ID)
			}
			return nil
		})
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "update user status", err)
			return
		}
		api.audit(r, auditEntry{ResourceType: "user", ResourceID: &user.ID, Target: user.Username, Action: codersdk.AuditActionWrite,
			Status: http.StatusOK, Diff: map[string]any{"status": map[string]string{"old": user.Status, "new": updated.Status}}})
		httpapi.Write(w, http.StatusOK, api.convertUser(ctx, updated))
	}
}

func (api *API) putUserRoles(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	user := userParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, rbac.Object{Type: rbac.ResourceUser}) {
		httpapi.Forbidden(w)
		return
	}
	var req codersdk.UpdateRoles
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	if req.Roles == nil {
		// A missing list must not silently strip every role.
		v.Add("roles", "is required (send [] to remove every role)")
	}
	roles := []string{}
	for i, role := range req.Roles {
		field := "roles[" + strconv.Itoa(i) + "]"
		switch {
		case role == codersdk.RoleMember:
			// Implicit for everyone; accept and drop it.
		case !rbac.IsSiteRole(role):
			v.Add(field, "unknown role %q", role)
		default:
			if !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid roles.", v.Errors())
		return
	}
	// The caller must be allowed to grant every role added and revoke every
	// role removed.
	for _, role := range symmetricDiff(user.RBACRoles, roles) {
		if !rbac.CanAssign(actor.Subject.Roles, role) {
			httpapi.Error(w, http.StatusForbidden, "You cannot assign or remove the role "+strconv.Quote(role)+".")
			return
		}
	}
	if user.ID == actor.User.ID && slices.Contains(user.RBACRoles, codersdk.RoleOwner) && !slices.Contains(roles, codersdk.RoleOwner) {
		httpapi.Error(w, http.StatusBadRequest, "You cannot remove your own owner role.", "Ask another owner to do it, so the deployment always keeps one.")
		return
	}
	updated, err := api.opts.DB.UpdateUserRoles(ctx, user.ID, roles, api.now())
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "update roles", err)
		return
	}
	api.audit(r, auditEntry{ResourceType: "user", ResourceID: &user.ID, Target: user.Username, Action: codersdk.AuditActionWrite,
		Status: http.StatusOK, Diff: map[string]any{"roles": map[string]any{"old": user.RBACRoles, "new": roles}}})
	httpapi.Write(w, http.StatusOK, api.convertUser(ctx, updated))
}

func symmetricDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			out = append(out, x)
		}
	}
	return out
}

func (api *API) siteRoles(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	out := []codersdk.AssignableRoles{}
	for _, role := range rbac.SiteRoles() {
		out = append(out, codersdk.AssignableRoles{Name: role.Name, DisplayName: role.DisplayName, BuiltIn: true,
			Assignable: rbac.CanAssign(actor.Subject.Roles, role.Name)})
	}
	httpapi.Write(w, http.StatusOK, out)
}

// pagination reads limit and offset, answering 400 when they are bad.
func pagination(w http.ResponseWriter, r *http.Request) (limit, offset int, ok bool) {
	q := r.URL.Query()
	var v httpapi.Validator
	parse := func(name string, max int) int {
		s := q.Get(name)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > max {
			v.Add(name, "must be an integer between 0 and %d", max)
			return 0
		}
		return n
	}
	limit = parse("limit", 1000)
	offset = parse("offset", 1<<30)
	if !v.OK() {
		httpapi.Validation(w, "Invalid query parameters.", v.Errors())
		return 0, 0, false
	}
	return limit, offset, true
}
