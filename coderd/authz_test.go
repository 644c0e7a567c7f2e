package coderd_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
)

// caller is one column of the authorization matrix.
type caller string

const (
	anonymous     caller = "unauthenticated"
	expired       caller = "expired-token"
	suspended     caller = "suspended-user"
	member        caller = "member"
	userAdmin     caller = "user-admin"
	templateAdmin caller = "template-admin"
	auditor       caller = "auditor"
	owner         caller = "owner"
)

var allCallers = []caller{anonymous, expired, suspended, member, userAdmin, templateAdmin, auditor, owner}

// expect is a row's expected status per caller.
type expect map[caller]int

// public: every caller, logged in or not, gets status.
func public(status int) expect {
	e := expect{}
	for _, c := range allCallers {
		e[c] = status
	}
	return e
}

// authed: the three callers without a usable token get 401; the roles get,
// in order, member, user-admin, template-admin, auditor, owner.
func authed(m, ua, ta, au, ow int) expect {
	return expect{anonymous: 401, expired: 401, suspended: 401,
		member: m, userAdmin: ua, templateAdmin: ta, auditor: au, owner: ow}
}

// authzFixture is one deployment with a user per role, shared by every cell
// of the matrix. Rows that change state act on fresh victims made per cell,
// so cells are independent and run in parallel.
type authzFixture struct {
	srv      *coderdtest.Server
	owner    *codersdk.Client
	org      uuid.UUID // the default organization; everyone is a member
	otherOrg uuid.UUID // an organization no role user belongs to
	users    map[caller]codersdk.User
	victim   codersdk.User // a plain member that rows read
	seq      atomic.Int64
}

// self is whose "me" a caller is: callers without a usable token act on
// the member's resources (their requests must fail before it matters).
func (f *authzFixture) self(c caller) codersdk.User {
	switch c {
	case anonymous, expired:
		return f.users[member]
	}
	return f.users[c]
}

// token mints a fresh credential for c, so rows that end sessions (logout)
// or revoke keys never affect another cell.
func (f *authzFixture) token(ctx context.Context, t *testing.T, c caller) string {
	switch c {
	case anonymous:
		return ""
	case expired:
		tok, _ := mintToken(ctx, t, f.srv.DB, f.users[member].ID, time.Now().Add(-time.Minute), "")
		return tok
	}
	tok, _ := mintToken(ctx, t, f.srv.DB, f.users[c].ID, time.Now().Add(time.Hour), "")
	return tok
}

func (f *authzFixture) name(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, f.seq.Add(1))
}

// newUser makes a fresh user with roles (and suspends it when asked).
func (f *authzFixture) newUser(ctx context.Context, t *testing.T, suspend bool, roles ...string) codersdk.User {
	t.Helper()
	n := f.name("victim")
	u, err := f.owner.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{Email: n + "@example.com", Username: n, Password: coderdtest.FirstUserPassword})
	require.NoError(t, err)
	if len(roles) > 0 {
		u, err = f.owner.UpdateUserRoles(ctx, u.ID.String(), codersdk.UpdateRoles{Roles: roles})
		require.NoError(t, err)
	}
	if suspend {
		u, err = f.owner.UpdateUserStatus(ctx, u.ID.String(), codersdk.UserStatusSuspended)
		require.NoError(t, err)
	}
	return u
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	ctx := coderdtest.Context(t, time.Minute)
	// The PSK lets provisioning fixtures play the daemon by hand.
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(t, client)
	f := &authzFixture{srv: srv, owner: client, org: first.OrganizationID, users: map[caller]codersdk.User{}}
	me, err := client.User(ctx, codersdk.Me)
	require.NoError(t, err)
	f.users[owner] = me
	f.users[member] = f.newUser(ctx, t, false)
	f.users[userAdmin] = f.newUser(ctx, t, false, codersdk.RoleUserAdmin)
	f.users[templateAdmin] = f.newUser(ctx, t, false, codersdk.RoleTemplateAdmin)
	f.users[auditor] = f.newUser(ctx, t, false, codersdk.RoleAuditor)
	f.victim = f.newUser(ctx, t, false)
	// Suspension deletes a user's keys; mint one afterwards so the request
	// reaches the middleware's status check rather than an unknown key.
	f.users[suspended] = f.newUser(ctx, t, true)

	// Everyone (and the victim) has a named token "mine".
	for _, u := range append(mapValues(f.users), f.victim) {
		mintToken(ctx, t, srv.DB, u.ID, time.Now().Add(time.Hour), "mine")
	}
	// A second organization nobody is a member of.
	f.otherOrg = uuid.New()
	_, err = srv.DB.Pool().Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, 'elsewhere')`, f.otherOrg)
	require.NoError(t, err)
	return f
}

func mapValues(m map[caller]codersdk.User) []codersdk.User {
	out := make([]codersdk.User, 0, len(m))
	for _, c := range allCallers {
		if u, ok := m[c]; ok {
			out = append(out, u)
		}
	}
	return out
}

// authzRow is one route (or one way of calling it) across every caller.
type authzRow struct {
	name   string
	method string
	// route is the chi pattern the row exercises; TestAuthzMatrixCoversRoutes
	// checks the matrix against the router with it.
	route string
	// req builds the path and body for caller c acting as self.
	req  func(ctx context.Context, t *testing.T, f *authzFixture, self codersdk.User) (path string, body any)
	want expect
}

func fixed(path string) func(context.Context, *testing.T, *authzFixture, codersdk.User) (string, any) {
	return func(context.Context, *testing.T, *authzFixture, codersdk.User) (string, any) { return path, nil }
}

func users(suffix string, who func(f *authzFixture, self codersdk.User) string) func(context.Context, *testing.T, *authzFixture, codersdk.User) (string, any) {
	return func(_ context.Context, _ *testing.T, f *authzFixture, self codersdk.User) (string, any) {
		return "/api/v2/users/" + who(f, self) + suffix, nil
	}
}

func me(*authzFixture, codersdk.User) string             { return codersdk.Me }
func victim(f *authzFixture, _ codersdk.User) string     { return f.victim.ID.String() }
func byUsername(f *authzFixture, _ codersdk.User) string { return f.victim.Username }

// authzMatrix lists every foundation route. Columns of authed(): member,
// user-admin, template-admin, auditor, owner. A read the caller may not make
// is 404 (existence does not leak); an action on something it may read is
// 403.
var authzMatrix = []authzRow{
	{"health", "GET", "/healthz", fixed("/healthz"), public(200)},
	{"api root", "GET", "/api/v2", fixed("/api/v2/"), public(200)},
	{"build info", "GET", "/api/v2/buildinfo", fixed("/api/v2/buildinfo"), public(200)},
	{"DERP map", "GET", "/api/v2/derp-map", fixed("/api/v2/derp-map"), public(200)},
	// Without --wildcard-access-url there are no subdomain apps to sign in to.
	{"app sign-in redirect, subdomain apps off", "GET", "/api/v2/applications/auth-redirect", fixed("/api/v2/applications/auth-redirect?redirect_uri=http%3A%2F%2Fapp--ws--u.apps.test%2F"), public(404)},
	{"app host", "GET", "/api/v2/applications/host", fixed("/api/v2/applications/host"), authed(200, 200, 200, 200, 200)},
	{"DERP latency check", "GET", "/derp/latency-check", fixed("/derp/latency-check"), public(200)},
	{"unknown agent binary", "GET", "/bin/{name}", fixed("/bin/nosuch"), public(404)},
	{"agent binary of a platform not served", "GET", "/bin/{name}", fixed("/bin/coder-plan9-amd64"), public(404)},
	{"first user exists", "GET", "/api/v2/users/first", fixed("/api/v2/users/first"), public(200)},
	{"second first user", "POST", "/api/v2/users/first", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		n := f.name("first")
		return "/api/v2/users/first", codersdk.CreateFirstUserRequest{Email: n + "@example.com", Username: n, Password: coderdtest.FirstUserPassword}
	}, public(409)},
	{"login", "POST", "/api/v2/users/login", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/login", codersdk.LoginWithPasswordRequest{Email: f.victim.Email, Password: coderdtest.FirstUserPassword}
	}, public(201)},
	{"auth methods", "GET", "/api/v2/users/authmethods", fixed("/api/v2/users/authmethods"), public(200)},
	{"logout", "POST", "/api/v2/users/logout", fixed("/api/v2/users/logout"), authed(200, 200, 200, 200, 200)},
	{"list users", "GET", "/api/v2/users", fixed("/api/v2/users"), authed(200, 200, 200, 200, 200)},
	{"create user", "POST", "/api/v2/users", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		n := f.name("new")
		return "/api/v2/users", codersdk.CreateUserRequestWithOrgs{Email: n + "@example.com", Username: n, Password: coderdtest.FirstUserPassword}
	}, authed(403, 201, 403, 403, 201)},
	{"site roles", "GET", "/api/v2/users/roles", fixed("/api/v2/users/roles"), authed(200, 200, 200, 200, 200)},
	{"read me", "GET", "/api/v2/users/{user}", users("", me), authed(200, 200, 200, 200, 200)},
	{"read other by id", "GET", "/api/v2/users/{user}", users("", victim), authed(404, 200, 200, 200, 200)},
	{"read other by username", "GET", "/api/v2/users/{user}", users("", byUsername), authed(404, 200, 200, 200, 200)},
	{"read nonexistent", "GET", "/api/v2/users/{user}", fixed("/api/v2/users/" + uuid.NewString()), authed(404, 404, 404, 404, 404)},
	{"suspend other", "PUT", "/api/v2/users/{user}/status/suspend", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.newUser(ctx, t, false).ID.String() + "/status/suspend", nil
	}, authed(404, 200, 403, 403, 200)},
	{"suspend an owner", "PUT", "/api/v2/users/{user}/status/suspend", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.newUser(ctx, t, false, codersdk.RoleOwner).ID.String() + "/status/suspend", nil
	}, authed(404, 403, 403, 403, 200)},
	{"suspend self", "PUT", "/api/v2/users/{user}/status/suspend", users("/status/suspend", me), authed(403, 400, 403, 403, 400)},
	{"activate other", "PUT", "/api/v2/users/{user}/status/activate", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.newUser(ctx, t, true).ID.String() + "/status/activate", nil
	}, authed(404, 200, 403, 403, 200)},
	{"grant auditor", "PUT", "/api/v2/users/{user}/roles", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.newUser(ctx, t, false).ID.String() + "/roles", codersdk.UpdateRoles{Roles: []string{codersdk.RoleAuditor}}
	}, authed(404, 200, 403, 403, 200)},
	{"grant owner", "PUT", "/api/v2/users/{user}/roles", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.newUser(ctx, t, false).ID.String() + "/roles", codersdk.UpdateRoles{Roles: []string{codersdk.RoleOwner}}
	}, authed(404, 403, 403, 403, 200)},
	{"revoke owner", "PUT", "/api/v2/users/{user}/roles", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.newUser(ctx, t, false, codersdk.RoleOwner).ID.String() + "/roles", codersdk.UpdateRoles{Roles: []string{}}
	}, authed(404, 403, 403, 403, 200)},
	{"grant self owner", "PUT", "/api/v2/users/{user}/roles", func(_ context.Context, _ *testing.T, _ *authzFixture, _ codersdk.User) (string, any) {
		// The owner already is one, so for them this changes nothing.
		return "/api/v2/users/me/roles", codersdk.UpdateRoles{Roles: []string{codersdk.RoleOwner}}
	}, authed(403, 403, 403, 403, 200)},
	{"my organizations", "GET", "/api/v2/users/{user}/organizations", users("/organizations", me), authed(200, 200, 200, 200, 200)},
	{"other's organizations", "GET", "/api/v2/users/{user}/organizations", users("/organizations", victim), authed(404, 200, 200, 200, 200)},
	// A git SSH key follows who may change the user: readers of every user
	// (template admins, auditors) do not see others' keys.
	{"my git ssh key", "GET", "/api/v2/users/{user}/gitsshkey", users("/gitsshkey", me), authed(200, 200, 200, 200, 200)},
	{"other's git ssh key", "GET", "/api/v2/users/{user}/gitsshkey", users("/gitsshkey", victim), authed(404, 200, 404, 404, 200)},
	{"regenerate my git ssh key", "PUT", "/api/v2/users/{user}/gitsshkey", users("/gitsshkey", me), authed(200, 200, 200, 200, 200)},
	{"regenerate other's git ssh key", "PUT", "/api/v2/users/{user}/gitsshkey", users("/gitsshkey", victim), authed(404, 200, 404, 404, 200)},
	{"list my tokens", "GET", "/api/v2/users/{user}/keys/tokens", users("/keys/tokens", me), authed(200, 200, 200, 200, 200)},
	{"list other's tokens", "GET", "/api/v2/users/{user}/keys/tokens", users("/keys/tokens", victim), authed(404, 404, 404, 404, 200)},
	{"create my token", "POST", "/api/v2/users/{user}/keys/tokens", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/me/keys/tokens", codersdk.CreateTokenRequest{TokenName: f.name("tok")}
	}, authed(201, 201, 201, 201, 201)},
	{"create other's token", "POST", "/api/v2/users/{user}/keys/tokens", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/users/" + f.victim.ID.String() + "/keys/tokens", codersdk.CreateTokenRequest{TokenName: f.name("tok")}
	}, authed(404, 403, 403, 403, 201)},
	{"get my token", "GET", "/api/v2/users/{user}/keys/tokens/{keyname}", users("/keys/tokens/mine", me), authed(200, 200, 200, 200, 200)},
	{"get other's token", "GET", "/api/v2/users/{user}/keys/tokens/{keyname}", users("/keys/tokens/mine", victim), authed(404, 404, 404, 404, 200)},
	{"get missing token", "GET", "/api/v2/users/{user}/keys/tokens/{keyname}", users("/keys/tokens/nosuch", me), authed(404, 404, 404, 404, 404)},
	{"delete my key", "DELETE", "/api/v2/users/{user}/keys/{keyid}", func(ctx context.Context, t *testing.T, f *authzFixture, self codersdk.User) (string, any) {
		_, id := mintToken(ctx, t, f.srv.DB, self.ID, time.Now().Add(time.Hour), f.name("del"))
		return "/api/v2/users/me/keys/" + id, nil
	}, authed(204, 204, 204, 204, 204)},
	{"delete other's key", "DELETE", "/api/v2/users/{user}/keys/{keyid}", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		_, id := mintToken(ctx, t, f.srv.DB, f.victim.ID, time.Now().Add(time.Hour), f.name("del"))
		return "/api/v2/users/" + f.victim.ID.String() + "/keys/" + id, nil
	}, authed(404, 404, 404, 404, 204)},
	{"delete other's key via my path", "DELETE", "/api/v2/users/{user}/keys/{keyid}", func(ctx context.Context, t *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		// The key must belong to {user}: naming yourself does not reach it.
		_, id := mintToken(ctx, t, f.srv.DB, f.victim.ID, time.Now().Add(time.Hour), f.name("del"))
		return "/api/v2/users/me/keys/" + id, nil
	}, authed(404, 404, 404, 404, 404)},
	{"audit log", "GET", "/api/v2/audit", fixed("/api/v2/audit"), authed(404, 404, 404, 200, 200)},
	{"health details", "GET", "/api/v2/debug/health", fixed("/api/v2/debug/health"), authed(404, 404, 404, 200, 200)},
	{"replicas", "GET", "/api/v2/replicas", fixed("/api/v2/replicas"), authed(404, 404, 404, 200, 200)},
	{"my organization", "GET", "/api/v2/organizations/{organization}", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/organizations/" + f.org.String(), nil
	}, authed(200, 200, 200, 200, 200)},
	{"organization by name", "GET", "/api/v2/organizations/{organization}", fixed("/api/v2/organizations/default"), authed(200, 200, 200, 200, 200)},
	{"other organization", "GET", "/api/v2/organizations/{organization}", func(_ context.Context, _ *testing.T, f *authzFixture, _ codersdk.User) (string, any) {
		return "/api/v2/organizations/" + f.otherOrg.String(), nil
	}, authed(404, 200, 200, 200, 200)},
	{"missing organization", "GET", "/api/v2/organizations/{organization}", fixed("/api/v2/organizations/" + uuid.NewString()), authed(404, 404, 404, 404, 404)},
}

func TestAuthzMatrix(t *testing.T) {
	t.Parallel()
	f := newAuthzFixture(t)
	for _, row := range authzMatrix {
		t.Run(row.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range allCallers {
				want, ok := row.want[c]
				require.True(t, ok, "row %q has no expectation for %s", row.name, c)
				t.Run(string(c), func(t *testing.T) {
					t.Parallel()
					ctx := coderdtest.Context(t, time.Minute)
					path, body := row.req(ctx, t, f, f.self(c))
					res := call(ctx, t, f.srv, row.method, path, f.token(ctx, t, c), body)
					require.Equal(t, want, res.status, "%s %s as %s: %s", row.method, path, c, res.body)
					if res.status < 400 {
						return
					}
					msg := res.response(t).Message
					require.NotEmpty(t, msg, "error answers carry a message")
					// The right check refused the token, not a malformed one.
					if res.status == 401 && c == expired {
						require.Contains(t, msg, "expired")
					}
					if res.status == 401 && c == suspended {
						require.Contains(t, msg, "suspended")
					}
				})
			}
		})
	}
}

// coveredRoutes lists every "METHOD pattern" some matrix exercises: the
// user matrices (foundation and provisioning) and the matrices of the
// routes with a different auth scheme (provisioner daemons, workspace
// agents, the DERP relay).
func coveredRoutes() map[string]bool {
	out := map[string]bool{}
	for _, row := range authzMatrix {
		out[row.method+" "+row.route] = true
	}
	for _, row := range provisioningMatrix {
		out[row.method+" "+row.route] = true
	}
	for _, row := range daemonMatrix {
		out["POST "+row.route] = true
	}
	for _, row := range agentMatrix {
		out[row.method+" "+row.route] = true
	}
	for _, k := range derpRoutes() {
		out[k] = true
	}
	return out
}

// TestAuthzMatrixCoversRoutes is deny by default for tests: a route added to
// the router without a row in a matrix fails here, and so does a row whose
// route no longer exists.
func TestAuthzMatrixCoversRoutes(t *testing.T) {
	t.Parallel()
	_, srv := coderdtest.New(t, nil)
	routes := srv.API.Routes()

	covered := coveredRoutes()
	seen := map[string]bool{}
	var missing []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		key := method + " " + normalizeRoute(route)
		seen[key] = true
		if !covered[key] {
			missing = append(missing, key)
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(missing)
	require.Empty(t, missing, "routes with no row in any matrix (add one, with the expected status for every caller)")
	var stale []string
	for k := range covered {
		if !seen[k] {
			stale = append(stale, k)
		}
	}
	slices.Sort(stale)
	require.Empty(t, stale, "matrix rows whose route the router does not have")
}

// normalizeRoute drops chi's trailing slash on subrouter roots.
func normalizeRoute(r string) string {
	if len(r) > 1 {
		r = strings.TrimSuffix(r, "/")
	}
	return r
}
