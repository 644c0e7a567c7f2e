package coderd_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// obj is a JSON object under construction.
type obj map[string]any

// with returns a copy of o with k set to v.
func (o obj) with(k string, v any) obj {
	out := obj{}
	for key, val := range o {
		out[key] = val
	}
	out[k] = v
	return out
}

// without returns a copy of o without k.
func (o obj) without(k string) obj {
	out := obj{}
	for key, val := range o {
		if key != k {
			out[key] = val
		}
	}
	return out
}

func (o obj) raw(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(o)
	require.NoError(t, err)
	return b
}

// badCase is one bad request. want is the exact status (0: any 4xx);
// field, when set, must be named by a validation.
type badCase struct {
	name        string
	body        func(t *testing.T, valid obj) []byte
	contentType string
	want        int
	field       string
}

func raw(s string) func(*testing.T, obj) []byte {
	return func(*testing.T, obj) []byte { return []byte(s) }
}

func set(k string, v any) func(*testing.T, obj) []byte {
	return func(t *testing.T, o obj) []byte { return o.with(k, v).raw(t) }
}

func drop(k string) func(*testing.T, obj) []byte {
	return func(t *testing.T, o obj) []byte { return o.without(k).raw(t) }
}

// genericBadCases apply to every JSON write route.
func genericBadCases(someString string) []badCase {
	return []badCase{
		{name: "empty body", body: raw(""), want: 400},
		{name: "whitespace body", body: raw("  \n"), want: 400},
		{name: "malformed JSON", body: raw(`{"` + someString + `": `), want: 400},
		{name: "not JSON", body: raw(`hello`), want: 400},
		{name: "JSON array", body: raw(`[]`), want: 400},
		{name: "JSON string", body: raw(`"x"`), want: 400},
		{name: "two objects", body: func(t *testing.T, o obj) []byte { return append(o.raw(t), o.raw(t)...) }, want: 400},
		{name: "unknown field", body: set("is_admin", true), want: 400, field: "is_admin"},
		{name: "unknown nested junk", body: set("__proto__", obj{"admin": true}), want: 400, field: "__proto__"},
		{name: "wrong content type", body: func(t *testing.T, o obj) []byte { return o.raw(t) }, contentType: "text/xml", want: 415},
		{name: "multipart content type", body: func(t *testing.T, o obj) []byte { return o.raw(t) }, contentType: "multipart/form-data; boundary=x", want: 415},
		{name: "over 1 MiB", body: set(someString, strings.Repeat("a", httpapi.MaxBodyBytes)), want: 413},
		{name: "invalid UTF-8 bytes", body: func(t *testing.T, o obj) []byte {
			b := o.without(someString).raw(t)
			return append([]byte(`{"`+someString+`":"a`+"\xff\xfe"+`b",`), b[1:]...)
		}}, // JSON decoding turns them into U+FFFD; then it is like any bad value
	}
}

// userBadCases apply to the two user-creating routes.
func userBadCases() []badCase {
	return []badCase{
		{name: "email is a number", body: set("email", 5), want: 400, field: "email"},
		{name: "username is an object", body: set("username", obj{}), want: 400, field: "username"},
		{name: "password is null-ish bool", body: set("password", false), want: 400, field: "password"},
		{name: "missing email", body: drop("email"), want: 400, field: "email"},
		{name: "missing username", body: drop("username"), want: 400, field: "username"},
		{name: "missing password", body: drop("password"), want: 400, field: "password"},
		{name: "all missing", body: raw(`{}`), want: 400, field: "username"},
		{name: "username 33 chars", body: set("username", strings.Repeat("a", 33)), want: 400, field: "username"},
		{name: "username 10k chars", body: set("username", strings.Repeat("a", 10000)), want: 400, field: "username"},
		{name: "name 10k chars", body: set("name", strings.Repeat("n", 10000)), want: 400, field: "name"},
		{name: "email 10k chars", body: set("email", strings.Repeat("e", 10000)+"@example.com"), want: 400, field: "email"},
		{name: "password 10k chars", body: set("password", strings.Repeat("Aa1!", 2500)), want: 400, field: "password"},
		{name: "unicode username", body: set("username", "jürgen"), want: 400, field: "username"},
		{name: "emoji username", body: set("username", "😀"), want: 400, field: "username"},
		{name: "NUL in username", body: set("username", "a\x00b"), want: 400, field: "username"},
		{name: "NUL in name", body: set("name", "a\x00b"), want: 400, field: "name"},
		{name: "bell in name", body: set("name", "a\ab"), want: 400, field: "name"},
		{name: "newline in name", body: set("name", "a\nb"), want: 400, field: "name"},
		{name: "NUL in email", body: set("email", "a\x00@example.com"), want: 400, field: "email"},
		{name: "SQL in username", body: set("username", "'; DROP TABLE users;--"), want: 400, field: "username"},
		{name: "SQL in email", body: set("email", "'; DROP TABLE users;--"), want: 400, field: "email"},
		{name: "email with display name", body: set("email", "Eve <eve@example.com>"), want: 400, field: "email"},
		{name: "weak password", body: set("password", "password"), want: 400, field: "password"},
		{name: "short password", body: set("password", "Ab1!"), want: 400, field: "password"},
		{name: "password equals username", body: func(t *testing.T, o obj) []byte {
			return o.with("username", "Hunter2-x").with("password", "hunter2-X").raw(t)
		}, want: 400, field: "password"},
	}
}

// nameCases apply to resource names (templates, workspaces, keys).
func nameCases(field string) []badCase {
	return []badCase{
		{name: field + " missing", body: drop(field), want: 400, field: field},
		{name: field + " empty", body: set(field, ""), want: 400, field: field},
		{name: field + " a number", body: set(field, 7), want: 400, field: field},
		{name: field + " 33 chars", body: set(field, strings.Repeat("n", 33)), want: 400, field: field},
		{name: field + " 10k chars", body: set(field, strings.Repeat("n", 10000)), want: 400, field: field},
		{name: field + " unicode", body: set(field, "größe"), want: 400, field: field},
		{name: field + " emoji", body: set(field, "😀"), want: 400, field: field},
		{name: field + " NUL", body: set(field, "a\x00b"), want: 400, field: field},
		{name: field + " bell", body: set(field, "a\ab"), want: 400, field: field},
		{name: field + " newline", body: set(field, "a\nb"), want: 400, field: field},
		{name: field + " SQL", body: set(field, "'; DROP TABLE templates;--"), want: 400, field: field},
		{name: field + " slash", body: set(field, "a/b"), want: 400, field: field},
		{name: field + " dot-dot", body: set(field, ".."), want: 400, field: field},
		{name: field + " leading hyphen", body: set(field, "-a"), want: 400, field: field},
	}
}

// textCases apply to free-text fields of at most max characters.
func textCases(field string, max int) []badCase {
	return []badCase{
		{name: field + " a number", body: set(field, 7), want: 400, field: field},
		{name: field + " too long", body: set(field, strings.Repeat("é", max+1)), want: 400, field: field},
		{name: field + " 100k chars", body: set(field, strings.Repeat("x", 100000)), want: 400, field: field},
		{name: field + " NUL", body: set(field, "a\x00b"), want: 400, field: field},
		{name: field + " bell", body: set(field, "a\ab"), want: 400, field: field},
		{name: field + " escape sequence", body: set(field, "a\x1b[31mb"), want: 400, field: field},
	}
}

// tagCases apply to provisioner tags.
func tagCases(field string) []badCase {
	many := map[string]string{}
	for i := range 33 {
		many[fmt.Sprintf("t%d", i)] = "x"
	}
	return []badCase{
		{name: "tags not an object", body: set(field, "gpu"), want: 400, field: field},
		{name: "tag value a number", body: set(field, obj{"gpu": 1}), want: 400, field: field},
		{name: "tag value an object", body: set(field, obj{"gpu": obj{}}), want: 400, field: field},
		{name: "33 tags", body: set(field, many), want: 400, field: field},
		{name: "empty tag name", body: set(field, obj{"": "x"}), want: 400, field: field},
		{name: "tag name NUL", body: set(field, obj{"a\x00": "x"}), want: 400, field: field + ".a\x00"},
		{name: "tag name 65 chars", body: set(field, obj{strings.Repeat("k", 65): "x"}), want: 400, field: field + "." + strings.Repeat("k", 65)},
		{name: "tag value 257 chars", body: set(field, obj{"k": strings.Repeat("v", 257)}), want: 400, field: field + ".k"},
		{name: "tag value NUL", body: set(field, obj{"k": "v\x00"}), want: 400, field: field + ".k"},
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	first := coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, 2*time.Minute)
	_, target := coderdtest.CreateAnotherUser(t, client)
	_, err := client.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "existing"})
	require.NoError(t, err)
	before, err := client.Users(ctx, codersdk.UsersRequest{})
	require.NoError(t, err)
	token := client.SessionToken()

	routes := []struct {
		method, path string
		valid        obj // a body that would succeed (or conflict)
		cases        []badCase
	}{
		{"POST", "/api/v2/users/first",
			obj{"email": "new@example.com", "username": "new", "password": "SomePass!234"},
			append(genericBadCases("email"), userBadCases()...)},
		{"POST", "/api/v2/users",
			obj{"email": "other@example.com", "username": "other", "password": "SomePass!234"},
			append(append(genericBadCases("username"), userBadCases()...),
				badCase{name: "unknown login type", body: set("login_type", "oidc"), want: 400, field: "login_type"},
				badCase{name: "login type none with password", body: set("login_type", "none"), want: 400, field: "password"},
				badCase{name: "organization ids not a list", body: set("organization_ids", "x"), want: 400, field: "organization_ids"},
				badCase{name: "organization id not a uuid", body: set("organization_ids", []string{"not-a-uuid"}), want: 400},
				badCase{name: "unknown organization", body: set("organization_ids", []string{uuid.NewString()}), want: 400, field: "organization_ids[0]"},
			)},
		{"POST", "/api/v2/users/login",
			obj{"email": "admin@example.com", "password": "SomePass!234"},
			append(genericBadCases("email"),
				badCase{name: "email is a number", body: set("email", 5), want: 400, field: "email"},
				badCase{name: "password is a bool", body: set("password", true), want: 400, field: "password"},
				badCase{name: "all missing", body: raw(`{}`), want: 400, field: "email"},
				badCase{name: "missing password", body: drop("password"), want: 400, field: "password"},
				badCase{name: "wrong password", body: set("password", "Wrong!234x"), want: 401},
				badCase{name: "email 10k chars", body: set("email", strings.Repeat("e", 10000)), want: 401},
				badCase{name: "password 10k chars", body: set("password", strings.Repeat("p", 10000)), want: 401},
				badCase{name: "SQL in email", body: set("email", "' OR '1'='1' --"), want: 401},
				badCase{name: "NUL in email", body: set("email", "admin\x00@example.com"), want: 400, field: "email"},
				badCase{name: "NUL in password", body: set("password", "SomePass!234\x00"), want: 401},
				badCase{name: "unicode email", body: set("email", "ädmin@exämple.com"), want: 401},
			)},
		{"PUT", "/api/v2/users/" + target.ID.String() + "/roles",
			obj{"roles": []string{codersdk.RoleAuditor}},
			append(genericBadCases("roles"),
				badCase{name: "roles is a string", body: set("roles", "owner"), want: 400, field: "roles"},
				badCase{name: "role is a number", body: set("roles", []any{5}), want: 400, field: "roles"},
				badCase{name: "roles missing", body: raw(`{}`), want: 400, field: "roles"},
				badCase{name: "roles null", body: raw(`{"roles":null}`), want: 400, field: "roles"},
				badCase{name: "unknown role", body: set("roles", []string{"superuser"}), want: 400, field: "roles[0]"},
				badCase{name: "second role unknown", body: set("roles", []string{"auditor", "'; DROP TABLE users;--"}), want: 400, field: "roles[1]"},
				badCase{name: "role 10k chars", body: set("roles", []string{strings.Repeat("r", 10000)}), want: 400, field: "roles[0]"},
				badCase{name: "role with NUL", body: set("roles", []string{"owner\x00"}), want: 400, field: "roles[0]"},
			)},
		{"POST", "/api/v2/users/me/keys/tokens",
			obj{"token_name": "fresh", "lifetime": int64(time.Hour)},
			append(genericBadCases("token_name"),
				badCase{name: "lifetime is a string", body: set("lifetime", "1h"), want: 400, field: "lifetime"},
				badCase{name: "lifetime is a float", body: set("lifetime", 1.5), want: 400, field: "lifetime"},
				badCase{name: "lifetime overflows", body: raw(`{"token_name":"x","lifetime":1e40}`), want: 400, field: "lifetime"},
				badCase{name: "lifetime negative", body: set("lifetime", -1), want: 400, field: "lifetime"},
				badCase{name: "lifetime too short", body: set("lifetime", int64(time.Second)), want: 400, field: "lifetime"},
				badCase{name: "lifetime too long", body: set("lifetime", int64(100*365*24*time.Hour)), want: 400, field: "lifetime"},
				badCase{name: "name missing", body: drop("token_name"), want: 400, field: "token_name"},
				badCase{name: "name 33 chars", body: set("token_name", strings.Repeat("t", 33)), want: 400, field: "token_name"},
				badCase{name: "name unicode", body: set("token_name", "tökén"), want: 400, field: "token_name"},
				badCase{name: "name NUL", body: set("token_name", "a\x00"), want: 400, field: "token_name"},
				badCase{name: "name SQL", body: set("token_name", "'; DROP TABLE api_keys;--"), want: 400, field: "token_name"},
				badCase{name: "name slash", body: set("token_name", "a/b"), want: 400, field: "token_name"},
				badCase{name: "unknown scope", body: set("scope", "root"), want: 400, field: "scope"},
				badCase{name: "duplicate name", body: set("token_name", "existing"), want: 409, field: "token_name"},
			)},
	}
	for _, route := range routes {
		t.Run(route.method+" "+route.path, func(t *testing.T) {
			for _, c := range route.cases {
				t.Run(c.name, func(t *testing.T) {
					var opts []codersdk.RequestOption
					if c.contentType != "" {
						opts = append(opts, codersdk.WithHeader("Content-Type", c.contentType))
					}
					res := call(ctx, t, srv, route.method, route.path, token, c.body(t, route.valid), opts...)
					requireClientError(t, res, c.want, c.field)
				})
			}
		})
	}

	// Routes that take no body ignore one, whatever it is.
	for _, path := range []string{
		"/api/v2/users/" + target.ID.String() + "/status/activate",
		"/api/v2/users/" + target.ID.String() + "/status/suspend",
		"/api/v2/users/" + target.ID.String() + "/status/activate",
		"/api/v2/users/" + target.ID.String() + "/gitsshkey",
	} {
		for _, body := range []string{"", "{", `{"status":"owner"}`, strings.Repeat("x", 2*httpapi.MaxBodyBytes)} {
			res := call(ctx, t, srv, "PUT", path, token, []byte(body))
			require.Equal(t, 200, res.status, "PUT %s with %.20q: %s", path, body, res.body)
		}
	}

	t.Run("after the barrage", func(t *testing.T) {
		res := call(ctx, t, srv, "GET", "/healthz", "", nil)
		require.Equal(t, 200, res.status)
		after, err := client.Users(ctx, codersdk.UsersRequest{})
		require.NoError(t, err)
		require.Equal(t, before.Count, after.Count, "no bad request created a user")
		for i, u := range before.Users {
			a := after.Users[i]
			require.Equal(t, []any{u.ID, u.Username, u.Email, u.Name, u.Roles}, []any{a.ID, a.Username, a.Email, a.Name, a.Roles})
		}
		got, err := client.User(ctx, target.ID.String())
		require.NoError(t, err)
		require.Empty(t, got.Roles, "no bad request changed the roles")
		require.Equal(t, codersdk.UserStatusActive, got.Status)
		keys, err := client.Tokens(ctx, codersdk.Me)
		require.NoError(t, err)
		require.Len(t, keys, 1, "no bad request created a token")
		_, err = codersdk.New(srv.URL).LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: coderdtest.FirstUserPassword})
		require.NoError(t, err)
		org, err := client.Organization(ctx, first.OrganizationID.String())
		require.NoError(t, err)
		require.True(t, org.IsDefault)
	})
}

// TestBadInputStoredVerbatim: strings that look dangerous but are valid
// input are stored and returned exactly, and are inert in searches.
func TestBadInputStoredVerbatim(t *testing.T) {
	t.Parallel()
	client, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	for i, name := range []string{"'; DROP TABLE users;--", `Robert"); DELETE FROM api_keys; --`, "Zoë 😀 中文 \u202e", "%_\\"} {
		u, err := client.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{
			Email: "verbatim" + string(rune('a'+i)) + "@example.com", Username: "verbatim-" + string(rune('a'+i)),
			Name: name, Password: coderdtest.FirstUserPassword,
		})
		require.NoError(t, err, name)
		got, err := client.User(ctx, u.ID.String())
		require.NoError(t, err)
		require.Equal(t, name, got.Name)
	}
	for _, q := range []string{"'; DROP TABLE users;--", "%", "_", "\\", "' OR '1'='1"} {
		res, err := client.Users(ctx, codersdk.UsersRequest{Search: q})
		require.NoError(t, err, q)
		require.Zero(t, res.Count, "search %q is literal: LIKE wildcards and quotes match nothing here", q)
	}
	res, err := client.Users(ctx, codersdk.UsersRequest{})
	require.NoError(t, err)
	require.Equal(t, 5, res.Count)
}

// TestBadQueryAndPath: malformed query parameters and path segments on the
// read routes are answered 4xx too.
func TestBadQueryAndPath(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	token := client.SessionToken()
	cases := []struct {
		method, path string
		want         int
		field        string
	}{
		{"GET", "/api/v2/users?limit=abc", 400, "limit"},
		{"GET", "/api/v2/users?limit=-1", 400, "limit"},
		{"GET", "/api/v2/users?limit=1001", 400, "limit"},
		{"GET", "/api/v2/users?limit=99999999999999999999", 400, "limit"},
		{"GET", "/api/v2/users?offset=x", 400, "offset"},
		{"GET", "/api/v2/users?status=owner", 400, "status"},
		{"GET", "/api/v2/users?q=" + strings.Repeat("q", 257), 400, "q"},
		{"GET", "/api/v2/users?q=%00", 400, "q"},
		{"GET", "/api/v2/users?q=%ff", 400, "q"},
		{"GET", "/api/v2/audit?limit=x", 400, "limit"},
		{"GET", "/api/v2/audit?action=%00", 400, "action"},
		{"GET", "/api/v2/audit?resource_type=%ff", 400, "resource_type"},
		{"GET", "/api/v2/users/%00", 400, ""},
		{"GET", "/api/v2/users/%ff", 400, ""},
		{"GET", "/api/v2/users/" + strings.Repeat("u", 200), 404, ""},
		{"GET", "/api/v2/users/'%3B%20DROP%20TABLE%20users%3B--", 404, ""},
		{"PUT", "/api/v2/users/%00/gitsshkey", 400, ""},
		{"PUT", "/api/v2/users/" + strings.Repeat("u", 200) + "/gitsshkey", 404, ""},
		{"GET", "/api/v2/users/me/keys/tokens/%00", 400, ""},
		{"GET", "/api/v2/users/me/keys/tokens/%ff", 400, ""},
		{"DELETE", "/api/v2/users/me/keys/%00", 400, ""},
		{"DELETE", "/api/v2/users/me/keys/%ff", 400, ""},
		{"DELETE", "/api/v2/users/me/keys/" + strings.Repeat("k", 5000), 404, ""},
		{"GET", "/api/v2/organizations/%00", 400, ""},
		{"GET", "/api/v2/organizations/%ff", 400, ""},
		{"GET", "/api/v2/nosuchroute", 404, ""},
		{"PATCH", "/api/v2/users/me", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path[:min(len(c.path), 60)], func(t *testing.T) {
			res := call(ctx, t, srv, c.method, c.path, token, nil)
			requireClientError(t, res, c.want, c.field)
		})
	}
	// Garbage credentials are 401s, not 500s.
	for _, tok := range []string{"x", "a-b", strings.Repeat("a", 10) + "-" + strings.Repeat("b", 22), "ééééééééé-ééééééééééééééééééééé", strings.Repeat("t", 10000)} {
		res := call(ctx, t, srv, "GET", "/api/v2/users/me", "", nil, codersdk.WithHeader(codersdk.SessionTokenHeader, tok))
		requireClientError(t, res, http.StatusUnauthorized, "")
	}
	require.Equal(t, 200, call(ctx, t, srv, "GET", "/healthz", "", nil).status)
}

// requireClientError checks a 4xx answer in the API's error shape.
func requireClientError(t *testing.T, res rawResponse, want int, field string) {
	t.Helper()
	require.GreaterOrEqual(t, res.status, 400, "body: %s", res.body)
	require.Less(t, res.status, 500, "a client mistake must never be a server error: %s", res.body)
	if want != 0 {
		require.Equal(t, want, res.status, "body: %s", res.body)
	}
	require.Contains(t, res.header.Get("Content-Type"), "application/json")
	resp := res.response(t)
	require.NotEmpty(t, resp.Message)
	if field == "" {
		return
	}
	var fields []string
	for _, v := range resp.Validations {
		require.NotEmpty(t, v.Detail, "validation for %q has no detail", v.Field)
		fields = append(fields, v.Field)
	}
	require.Contains(t, fields, field, "validations should name the field: %s", res.body)
}

// TestBadInputSanitized: program output carrying NUL characters (which
// PostgreSQL cannot store) is kept with each NUL replaced, not refused:
// the program that printed it cannot be asked to try again.
func TestBadInputSanitized(t *testing.T) {
	t.Parallel()
	f := newBadFixture(t)
	ctx := testutil.Context(t, time.Minute)
	psk := codersdk.WithHeader(codersdk.ProvisionerDaemonPSKHeader, coderdtest.TestPSK)
	clean := func(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

	up := f.jobs["update"]
	res := call(ctx, t, f.srv, "POST", "/api/v2/provisionerdaemons/jobs/"+up.job.String()+"/update", "",
		codersdk.UpdateJobRequest{DaemonID: up.daemon, Logs: []codersdk.ProvisionerLog{{Stage: "Plan\x00", Output: "a\x00b"}}}, psk)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	logs, closeLogs, err := f.owner.TemplateVersionLogsAfter(ctx, up.version, 0, false)
	require.NoError(t, err)
	var lines []codersdk.ProvisionerJobLog
	for l := range logs {
		lines = append(lines, l)
	}
	require.NoError(t, closeLogs())
	require.Len(t, lines, 1)
	require.Equal(t, []string{clean("Plan\x00"), clean("a\x00b")}, []string{lines[0].Stage, lines[0].Output})

	fail := f.jobs["fail"]
	res = call(ctx, t, f.srv, "POST", "/api/v2/provisionerdaemons/jobs/"+fail.job.String()+"/fail", "",
		codersdk.FailJobRequest{DaemonID: fail.daemon, Error: "Error: \x00 in output", ErrorCode: "TERRA\x00FORM"}, psk)
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	v, err := f.owner.TemplateVersion(ctx, fail.version)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobFailed, v.Job.Status)
	require.Equal(t, []string{clean("Error: \x00 in output"), clean("TERRA\x00FORM")}, []string{v.Job.Error, v.Job.ErrorCode})

	res = call(ctx, t, f.srv, "PATCH", "/api/v2/workspaceagents/me/logs", f.token,
		codersdk.PatchLogsRequest{Logs: []codersdk.AgentLog{{Output: "bin\x00ary", Source: "Start\x00up"}}})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	agentLogs, err := f.owner.WorkspaceAgentLogs(ctx, f.agent, 0)
	require.NoError(t, err)
	require.Len(t, agentLogs, 1)
	require.Equal(t, []string{clean("bin\x00ary"), clean("Start\x00up")}, []string{agentLogs[0].Output, agentLogs[0].Source})

	res = call(ctx, t, f.srv, "POST", "/api/v2/workspaceagents/me/listening-ports", f.token,
		codersdk.ListeningPortsResponse{Ports: []codersdk.ListeningPort{{ProcessName: "ssh\x00d", Network: "tcp\x00", Port: 22}}})
	require.Equal(t, http.StatusNoContent, res.status, "%s", res.body)
	ports, err := f.owner.WorkspaceAgentListeningPorts(ctx, f.agent)
	require.NoError(t, err)
	require.Equal(t, []codersdk.ListeningPort{{ProcessName: clean("ssh\x00d"), Network: clean("tcp\x00"), Port: 22}}, ports.Ports)
}

// TestBadInputStoredVerbatimProvisioning: free text that looks dangerous
// but is valid is stored and returned exactly, and is inert in searches.
func TestBadInputStoredVerbatimProvisioning(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	up, err := owner.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, mainTF)))
	require.NoError(t, err)
	texts := []string{"'; DROP TABLE template_versions;--", `Robert"); DELETE FROM workspaces; --`, "Zoë 😀 中文 \u202e", "%_\\", "${jndi:ldap://x}", "{{.Secret}}"}
	var last codersdk.TemplateVersion
	for _, text := range texts {
		// Tagged imports wait for a daemon with the tag: none comes.
		tagged, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{
			StorageMethod: "file", Provisioner: "terraform", FileID: up.ID, ProvisionerTags: map[string]string{"k": text}})
		require.NoError(t, err, text)
		v, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{
			Name: text, Message: text, StorageMethod: "file", Provisioner: "terraform", FileID: up.ID})
		require.NoError(t, err, text)
		require.Equal(t, v.Job.ID, coderdtest.CompleteImport(t, daemon, nil))
		got, err := owner.TemplateVersion(ctx, v.ID)
		require.NoError(t, err)
		gotTagged, err := owner.TemplateVersion(ctx, tagged.ID)
		require.NoError(t, err)
		require.Equal(t, []string{text, text, text}, []string{got.Name, got.Message, gotTagged.Job.Tags["k"]})
		last = v
	}
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "verbatim", DisplayName: texts[2], Description: texts[1], Icon: texts[0], VersionID: last.ID})
	require.NoError(t, err)
	got, err := owner.Template(ctx, tmpl.ID)
	require.NoError(t, err)
	require.Equal(t, []string{texts[2], texts[1], texts[0]}, []string{got.DisplayName, got.Description, got.Icon})
	_, err = owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	for _, q := range []string{"%", "_", "\\", "' OR '1'='1", "name:%", "owner:' OR '1'='1", "template:%"} {
		res, err := owner.Workspaces(ctx, codersdk.WorkspaceFilter{Name: q})
		require.NoError(t, err, q)
		require.Zero(t, res.Count, "search %q is literal", q)
	}
	all, err := owner.Workspaces(ctx, codersdk.WorkspaceFilter{})
	require.NoError(t, err)
	require.Equal(t, 1, all.Count)
}
