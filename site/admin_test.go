package site_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// signIn logs a fresh browser in as a user made with the given roles and
// returns it with the user.
func (d *dashboard) signIn(t *testing.T, owner *codersdk.Client, roles ...string) (*browser, codersdk.User) {
	t.Helper()
	_, u := coderdtest.CreateAnotherUser(t, owner, roles...)
	b := d.browser(t)
	b.login(u.Email, coderdtest.FirstUserPassword)
	return b, u
}

// ownerBrowser sets the deployment up and signs its owner in.
func (d *dashboard) ownerBrowser(t *testing.T) *browser {
	t.Helper()
	coderdtest.CreateFirstUser(t, d.Client)
	b := d.browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)
	return b
}

// rowOf returns the table row of the element carrying attr="value".
func rowOf(t *testing.T, body, attr, value string) string {
	t.Helper()
	start := strings.Index(body, attr+`="`+value+`"`)
	require.GreaterOrEqual(t, start, 0, "no row with %s=%q in:\n%s", attr, value, body)
	end := strings.Index(body[start:], "</tr>")
	require.Greater(t, end, 0)
	return body[start : start+end]
}

// rolesFormValues is what a browser submits for a user row's roles form:
// checked boxes that are not disabled, and hidden fields.
func rolesFormValues(row string) url.Values {
	v := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="(checkbox|hidden)" name="roles" value="([a-z-]+)"([^>]*)>`).FindAllStringSubmatch(row, -1) {
		attrs := m[3]
		if m[1] == "hidden" || (strings.Contains(attrs, "checked") && !strings.Contains(attrs, "disabled")) {
			v.Add("roles", m[2])
		}
	}
	return v
}

// TestAdminAuthorization: the admin pages give each role what the API
// gives it, never more: a member lists only themself and is refused the
// rest (404 where the API hides, 403 where it forbids); an auditor reads
// the audit log, the users and health but not provisioners; only owners see
// the Admin link.
func TestAdminAuthorization(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	owner := d.ownerBrowser(t)
	member, memberUser := d.signIn(t, d.Client)
	auditor, _ := d.signIn(t, d.Client, codersdk.RoleAuditor)

	for _, path := range []string{"/admin/users", "/admin/audit", "/admin/provisioners", "/admin/health"} {
		p := owner.get(path)
		require.Equal(t, http.StatusOK, p.Status, "owner %s: %s", path, p.Body)
		require.Contains(t, p.Body, `href="/admin/users">Admin</a>`, "owners get the nav link")
	}

	tests := []struct {
		name   string
		b      *browser
		method string
		path   string
		want   int
	}{
		{"member users", member, http.MethodGet, "/admin/users", http.StatusOK},
		{"member audit", member, http.MethodGet, "/admin/audit", http.StatusNotFound},
		{"member provisioners", member, http.MethodGet, "/admin/provisioners", http.StatusNotFound},
		{"member health", member, http.MethodGet, "/admin/health", http.StatusNotFound},
		{"member create user", member, http.MethodPost, "/admin/users", http.StatusForbidden},
		{"member suspend (the API hides other users)", member, http.MethodPost, "/admin/users/admin/suspend", http.StatusNotFound},
		{"member suspend self", member, http.MethodPost, "/admin/users/" + memberUser.Username + "/suspend", http.StatusForbidden},
		{"member roles", member, http.MethodPost, "/admin/users/" + memberUser.Username + "/roles", http.StatusForbidden},
		{"auditor audit", auditor, http.MethodGet, "/admin/audit", http.StatusOK},
		{"auditor health", auditor, http.MethodGet, "/admin/health", http.StatusOK},
		{"auditor users", auditor, http.MethodGet, "/admin/users", http.StatusOK},
		{"auditor provisioners", auditor, http.MethodGet, "/admin/provisioners", http.StatusNotFound},
		{"auditor create user", auditor, http.MethodPost, "/admin/users", http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p page
			if tc.method == http.MethodPost {
				p = tc.b.post(tc.path, url.Values{"username": {"sneaky"}, "email": {"sneaky@example.com"}, "password": {"SomePass!234"}, "roles": {codersdk.RoleOwner}})
			} else {
				p = tc.b.get(tc.path)
			}
			require.Equal(t, tc.want, p.Status, p.Body)
			require.NotContains(t, p.Body, `href="/admin/users">Admin</a>`)
		})
	}

	// What the API gives a member is their own row, nobody else's.
	p := member.get("/admin/users")
	require.Contains(t, p.Body, `data-user="`+memberUser.Username+`"`)
	require.NotContains(t, p.Body, "admin@example.com")
	require.NotContains(t, p.Body, `href="/admin/audit">Audit</a>`)
	require.NotContains(t, p.Body, `id="new-user"`, "no form the API would refuse")
	require.NotContains(t, p.Body, "/suspend")
	p = auditor.get("/admin/users")
	require.Contains(t, p.Body, `data-user="admin"`, "auditors read every user")
	require.NotContains(t, p.Body, `id="new-user"`)
	require.Contains(t, rowOf(t, p.Body, "data-user", "admin"), `<span class="badge">Owner</span>`)
	p = owner.get("/admin/users")
	require.Contains(t, p.Body, `id="new-user"`)
	p = auditor.get("/workspaces")
	require.Contains(t, p.Body, `href="/admin/audit">Audit</a>`)

	// Nothing changed behind the refusals.
	ctx := testutil.Context(t, testutil.WaitShort)
	_, err := d.Client.User(ctx, "sneaky")
	require.True(t, codersdk.IsStatus(err, http.StatusNotFound), "no user was created: %v", err)
	me, err := d.Client.User(ctx, memberUser.Username)
	require.NoError(t, err)
	require.Empty(t, me.Roles, "the member granted themself nothing")
}

// TestAdminCreateUser: the form creates a user, and every refusal comes
// back by its field with the input kept and the API's 4xx status.
func TestAdminCreateUser(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.ownerBrowser(t)

	tests := []struct {
		name   string
		form   url.Values
		status int
		field  string
		text   string
	}{
		{"bad email", url.Values{"username": {"alice"}, "email": {"not-an-email"}, "password": {"SomePass!234"}}, http.StatusBadRequest, "email", "not-an-email"},
		{"short password", url.Values{"username": {"alice"}, "email": {"alice@example.com"}, "password": {"Ab1!"}}, http.StatusBadRequest, "password", "alice@example.com"},
		{"duplicate username", url.Values{"username": {"admin"}, "email": {"other@example.com"}, "password": {"SomePass!234"}}, http.StatusConflict, "username", "other@example.com"},
		{"no username", url.Values{"email": {"nobody@example.com"}, "password": {"SomePass!234"}}, http.StatusBadRequest, "username", "nobody@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := b.post("/admin/users", tc.form)
			require.Equal(t, tc.status, p.Status, p.Body)
			require.Regexp(t, regexp.MustCompile(`name="`+tc.field+`"[^>]*>\s*</label>\s*<span class="field-error"`), p.Body, "the error sits by the %s field", tc.field)
			require.Contains(t, p.Body, `value="`+tc.text+`"`, "the input is kept")
			require.NotContains(t, p.Body, tc.form.Get("password"), "the password is never echoed")
		})
	}

	p := b.post("/admin/users", url.Values{"username": {"alice"}, "email": {"alice@example.com"}, "password": {"SomePass!234"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	p = b.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "User alice created.")
	row := rowOf(t, p.Body, "data-user", "alice")
	require.Contains(t, row, "alice@example.com")
	require.Contains(t, row, `data-status="active"`)
	// The new user can sign in.
	d.browser(t).login("alice@example.com", "SomePass!234")

	// The filter goes to the API's q.
	p = b.get("/admin/users?q=ali")
	require.Contains(t, p.Body, `data-user="alice"`)
	require.NotContains(t, p.Body, `data-user="admin"`)
	require.Contains(t, p.Body, `value="ali"`)
	p = b.get("/admin/users?status=bogus")
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, "must be active, suspended or dormant")
	// A created= link cannot put words on the page.
	p = b.get("/admin/users?created=nobody-here")
	require.NotContains(t, p.Body, "created.")
}

// TestAdminSuspendActivate: suspending ends the user's sessions at once;
// activating lets them sign in again; an owner cannot suspend themself.
func TestAdminSuspendActivate(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.ownerBrowser(t)
	victim, u := d.signIn(t, d.Client)
	require.Equal(t, http.StatusOK, victim.get("/workspaces").Status)

	p := b.post("/admin/users/"+u.ID.String()+"/suspend", url.Values{"back": {"/admin/users?q=" + u.Username}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/admin/users?q="+u.Username, p.Location, "back to the list as it was filtered")
	require.Contains(t, rowOf(t, b.get(p.Location).Body, "data-user", u.Username), `data-status="suspended"`)
	require.Equal(t, http.StatusSeeOther, victim.get("/workspaces").Status, "the suspended user's session is gone")

	p = b.post("/admin/users/"+u.ID.String()+"/activate", url.Values{"back": {"https://evil.example.com/"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/admin/users", p.Location, "never back to another site")
	require.Contains(t, rowOf(t, b.get("/admin/users").Body, "data-user", u.Username), `data-status="active"`)
	d.browser(t).login(u.Email, coderdtest.FirstUserPassword)

	p = b.post("/admin/users/admin/suspend", url.Values{})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, "You cannot suspend yourself.")
	p = b.post("/admin/users/"+uuid.NewString()+"/suspend", url.Values{})
	require.Equal(t, http.StatusNotFound, p.Status)
}

// TestAdminRoles: the roles form sets exactly the checked site roles, and
// a user admin cannot touch the owner role (shown disabled, kept as is).
func TestAdminRoles(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.ownerBrowser(t)
	_, u := coderdtest.CreateAnotherUser(t, d.Client)
	ctx := testutil.Context(t, testutil.WaitShort)
	roleNames := func() []string {
		got, err := d.Client.User(ctx, u.ID.String())
		require.NoError(t, err)
		var names []string
		for _, r := range got.Roles {
			names = append(names, r.Name)
		}
		return names
	}

	row := rowOf(t, b.get("/admin/users").Body, "data-user", u.Username)
	for _, r := range []string{codersdk.RoleOwner, codersdk.RoleUserAdmin, codersdk.RoleTemplateAdmin, codersdk.RoleAuditor} {
		require.Regexp(t, `name="roles" value="`+r+`">`, row, "an owner may grant %s", r)
	}
	p := b.post("/admin/users/"+u.ID.String()+"/roles", url.Values{"roles": {codersdk.RoleAuditor, codersdk.RoleTemplateAdmin}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.ElementsMatch(t, []string{codersdk.RoleAuditor, codersdk.RoleTemplateAdmin}, roleNames())
	row = rowOf(t, b.get("/admin/users").Body, "data-user", u.Username)
	require.Contains(t, row, `value="auditor" checked`)
	require.Contains(t, row, `value="template-admin" checked`)

	p = b.post("/admin/users/"+u.ID.String()+"/roles", url.Values{"roles": {codersdk.RoleAuditor}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, []string{codersdk.RoleAuditor}, roleNames())
	p = b.post("/admin/users/"+u.ID.String()+"/roles", url.Values{"roles": {"emperor"}})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, "Invalid roles.")
	p = b.post("/admin/users/"+u.ID.String()+"/roles", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Empty(t, roleNames())

	// A user admin sees the owner role disabled on the owner's row, and
	// saving that row keeps it.
	ua, _ := d.signIn(t, d.Client, codersdk.RoleUserAdmin)
	row = rowOf(t, ua.get("/admin/users").Body, "data-user", "admin")
	require.Contains(t, row, `value="owner" checked disabled`)
	// What the browser sends for that row with auditor ticked: the enabled
	// checked boxes and the hidden fields.
	sent := rolesFormValues(row)
	sent.Add("roles", codersdk.RoleAuditor)
	require.Equal(t, []string{codersdk.RoleOwner, codersdk.RoleAuditor}, sent["roles"])
	p = ua.post("/admin/users/admin/roles", sent)
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	p = ua.post("/admin/users/admin/roles", url.Values{"roles": {codersdk.RoleAuditor}})
	require.Equal(t, http.StatusForbidden, p.Status, "revoking owner is the API's to refuse")
	owner, err := d.Client.User(ctx, "admin")
	require.NoError(t, err)
	require.Len(t, owner.Roles, 2)
}

// TestAdminProvisionerKeys: a key is shown once on creation, listed (tags
// escaped) without its secret, refused by field on bad input, and deleted.
func TestAdminProvisionerKeys(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.ownerBrowser(t)
	ctx := testutil.Context(t, testutil.WaitShort)
	orgs, err := d.Client.OrganizationsByUser(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Len(t, orgs, 1)
	org := orgs[0].ID.String()

	p := b.post("/admin/provisioners/"+org+"/keys", url.Values{"name": {"fleet"}, "tags": {"scope=organization region=<b>eu</b>"}})
	require.Equal(t, http.StatusCreated, p.Status, p.Body)
	m := regexp.MustCompile(`<code id="new-provisioner-key">([^<]+)</code>`).FindStringSubmatch(p.Body)
	require.NotNil(t, m, p.Body)
	key := m[1]
	require.Greater(t, len(key), 20)
	row := rowOf(t, p.Body, "data-key", "fleet")
	require.Contains(t, row, "region=&lt;b&gt;eu&lt;/b&gt;", "tag text is escaped")
	require.NotContains(t, p.Body, "<b>eu</b>")

	// The key works for a daemon, and the page never shows it again.
	daemon := codersdk.New(d.URL)
	daemon.Header = http.Header{codersdk.ProvisionerDaemonKeyHeader: {key}}
	_, err = daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Name: "keyed-daemon", Version: "v9.9.9"})
	require.NoError(t, err)
	p = b.get("/admin/provisioners")
	require.Equal(t, http.StatusOK, p.Status)
	require.NotContains(t, p.Body, key)
	daemonRow := rowOf(t, p.Body, "data-daemon", "keyed-daemon")
	require.Contains(t, daemonRow, "online · idle")
	require.Contains(t, daemonRow, "v9.9.9")
	require.Contains(t, daemonRow, "region=&lt;b&gt;eu&lt;/b&gt;", "the daemon carries the key's tags")

	p = b.post("/admin/provisioners/"+org+"/keys", url.Values{"name": {"fleet"}})
	require.Equal(t, http.StatusConflict, p.Status)
	require.Regexp(t, `name="name" value="fleet"[^>]*>\s*</label>\s*<span class="field-error" role="alert">already taken`, p.Body)
	p = b.post("/admin/provisioners/"+org+"/keys", url.Values{"name": {"other"}, "tags": {"novalue"}})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, `value="novalue"`)
	require.Contains(t, p.Body, "key=value pairs")
	p = b.post("/admin/provisioners/"+org+"/keys", url.Values{"name": {"Bad Name!"}})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, `value="Bad Name!"`)
	require.Contains(t, p.Body, `class="field-error"`)

	p = b.post("/admin/provisioners/"+org+"/keys/fleet/delete", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	p = b.get("/admin/provisioners")
	require.NotContains(t, p.Body, `data-key="fleet"`)
	require.Contains(t, p.Body, "No provisioner keys.")
	p = b.post("/admin/provisioners/"+org+"/keys/fleet/delete", url.Values{})
	require.Equal(t, http.StatusNotFound, p.Status)
	p = b.post("/admin/provisioners/not-a-uuid/keys", url.Values{"name": {"x"}})
	require.Equal(t, http.StatusNotFound, p.Status)
}

// TestAdminAudit: the log shows who did what to which resource, with the
// API's filters (action, resource type) and pages; bad input is refused by
// its field.
func TestAdminAudit(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.ownerBrowser(t)
	p := b.post("/admin/users", url.Values{"username": {"audited"}, "email": {"audited@example.com"}, "password": {"SomePass!234"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	p = b.post("/admin/users/audited/suspend", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)

	p = b.get("/admin/audit?action=create&resource_type=user")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, `<option value="create" selected>`)
	require.Contains(t, p.Body, `value="user"`)
	rows := regexp.MustCompile(`<tr data-action="([a-z]+)" data-resource-type="([a-z_]+)">`).FindAllStringSubmatch(p.Body, -1)
	require.NotEmpty(t, rows)
	for _, r := range rows {
		require.Equal(t, []string{"create", "user"}, r[1:], "the filter holds")
	}
	row := rowOf(t, p.Body, "data-action", "create")
	require.Contains(t, row, "<strong>audited</strong>")
	require.Contains(t, row, "<td>admin</td>", "who acted")
	require.Contains(t, row, ">201<")
	require.Regexp(t, `<td>(127\.0\.0\.1|::1)</td>`, row)

	p = b.get("/admin/audit?action=write")
	row = rowOf(t, p.Body, "data-action", "write")
	require.Contains(t, row, "<strong>audited</strong>")
	require.NotContains(t, p.Body, `data-action="create"`)

	// Pages of 50: 55 failed logins fill one and spill onto the next, whose
	// links keep the filter.
	ctx := testutil.Context(t, testutil.WaitLong)
	for range 55 {
		_, err := d.Client.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: "wrong-Password-1"})
		require.True(t, codersdk.IsStatus(err, http.StatusUnauthorized), "%v", err)
	}
	p = b.get("/admin/audit?action=login")
	require.Equal(t, 50, strings.Count(p.Body, `<tr data-action="login"`))
	require.Contains(t, p.Body, ">401<")
	next := regexp.MustCompile(`href="([^"]+)" rel="next"`).FindStringSubmatch(p.Body)
	require.NotNil(t, next, "a next link")
	require.Equal(t, "/admin/audit?action=login&amp;offset=50", next[1])
	require.NotContains(t, p.Body, `rel="prev"`)
	p = b.get("/admin/audit?action=login&offset=50")
	require.Equal(t, http.StatusOK, p.Status)
	require.GreaterOrEqual(t, strings.Count(p.Body, `<tr data-action="login"`), 5, "the failed ones and the browser's own login")
	require.NotContains(t, p.Body, `rel="next"`)
	require.Contains(t, p.Body, `href="/admin/audit?action=login" rel="prev"`)

	p = b.get("/admin/audit?offset=-3")
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, "must be a whole number")
	p = b.get("/admin/audit?offset=100000")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "No audit entries match.")
	require.Contains(t, p.Body, `rel="prev"`)
}

// TestAdminHealth: every check of the report is on the page, the failing
// one with its reason (a test deployment has no provisioner daemon).
func TestAdminHealth(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.ownerBrowser(t)
	p := b.get("/admin/health")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	for _, name := range []string{"Database", "DERP", "STUN", "Websocket"} {
		require.Contains(t, p.Body, `data-check="`+name+`" data-healthy="true"`, name)
	}
	require.Contains(t, p.Body, `data-check="Provisioners" data-healthy="false"`)
	require.Regexp(t, `class="error-text reason">no provisioner daemon has connected in the last 24 hours`, p.Body)
	require.Contains(t, p.Body, `id="health-summary" class="status bad">Unhealthy`)
}
