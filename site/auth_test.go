package site_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
)

func TestSetupThenLogin(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := d.browser(t)

	// No user yet: every road leads to /setup.
	p := b.get("/workspaces")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/login?redirect=%2Fworkspaces", p.Location)
	p = b.get("/login")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/setup", p.Location)

	// Bad input keeps what was typed and names the field.
	p = b.post("/setup", url.Values{"email": {"not-an-email"}, "username": {"admin"}, "password": {"SomePass!234"}, "password_confirm": {"SomePass!234"}})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, `value="not-an-email"`)
	require.Contains(t, p.Body, `class="field-error"`)
	p = b.post("/setup", url.Values{"email": {"admin@example.com"}, "username": {"admin"}, "password": {"SomePass!234"}, "password_confirm": {"other"}})
	require.Equal(t, http.StatusBadRequest, p.Status)
	require.Contains(t, p.Body, "The two passwords differ.")

	p = b.post("/setup", url.Values{"email": {"admin@example.com"}, "username": {"admin"}, "password": {"SomePass!234"}, "password_confirm": {"SomePass!234"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/templates", p.Location)
	cookie := sessionCookie(t, p)
	require.True(t, cookie.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, cookie.SameSite)

	p = b.get("/workspaces")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "admin")

	// A second setup is refused: the deployment has its owner.
	p = d.browser(t).get("/setup")
	require.Equal(t, http.StatusSeeOther, p.Status)
	require.Equal(t, "/login", p.Location)

	// Logout clears the cookie and the session stops working.
	p = b.post("/logout", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.Status)
	p = b.get("/workspaces")
	require.Equal(t, http.StatusSeeOther, p.Status)
}

func sessionCookie(t *testing.T, p page) *http.Cookie {
	t.Helper()
	for _, line := range p.Header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		require.NoError(t, err)
		if c.Name == codersdk.SessionTokenCookie {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", codersdk.SessionTokenCookie, p.Header.Values("Set-Cookie"))
	return nil
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	coderdtest.CreateFirstUser(t, d.Client)

	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"empty", url.Values{}, http.StatusBadRequest, "Enter your email address."},
		{"no password", url.Values{"email": {"admin@example.com"}}, http.StatusBadRequest, "Enter your password."},
		{"wrong password", url.Values{"email": {"admin@example.com"}, "password": {"nope-nope-nope"}}, http.StatusUnauthorized, "Incorrect email or password."},
		{"unknown user", url.Values{"email": {"ghost@example.com"}, "password": {"nope-nope-nope"}}, http.StatusUnauthorized, "Incorrect email or password."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := d.browser(t).post("/login", tc.form)
			require.Equal(t, tc.wantStatus, p.Status, p.Body)
			require.Contains(t, p.Body, tc.wantText)
			if e := tc.form.Get("email"); e != "" {
				require.Contains(t, p.Body, `value="`+e+`"`, "the email is kept")
			}
		})
	}
}

func TestLoginRedirectStaysOnOrigin(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	coderdtest.CreateFirstUser(t, d.Client)
	tests := []struct{ redirect, want string }{
		{"/templates", "/templates"},
		{"/@admin/ws?x=1", "/@admin/ws?x=1"},
		{"https://evil.example.com/", "/workspaces"},
		{"//evil.example.com/", "/workspaces"},
		{"/\\evil.example.com", "/workspaces"},
		{"javascript:alert(1)", "/workspaces"},
		{"", "/workspaces"},
	}
	for _, tc := range tests {
		t.Run(tc.redirect, func(t *testing.T) {
			t.Parallel()
			p := d.browser(t).post("/login", url.Values{"email": {"admin@example.com"}, "password": {coderdtest.FirstUserPassword}, "redirect": {tc.redirect}})
			require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
			require.Equal(t, tc.want, p.Location)
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	p := d.browser(t).get("/login")
	csp := p.Header.Get("Content-Security-Policy")
	require.Contains(t, csp, "script-src 'self'")
	require.NotContains(t, strings.Split(csp, "style-src")[0], "unsafe-inline", "inline scripts are never allowed")
	require.Equal(t, "DENY", p.Header.Get("X-Frame-Options"))
	require.Equal(t, "nosniff", p.Header.Get("X-Content-Type-Options"))
}

// The sign-in form is limited exactly like the API's login: it is the same
// limiter, keyed by the browser's address, and says so in words.
func TestLoginFormRateLimited(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{LoginRateBurst: 4, LoginRateInterval: time.Hour})
	d := &dashboard{URL: srv.URL, Client: client, Server: srv}
	coderdtest.CreateFirstUser(t, client) // two attempts: creating the first user and its login
	b := d.browser(t)
	for i := range 2 {
		p := b.post("/login", url.Values{"email": {"admin@example.com"}, "password": {"wrong"}})
		require.Equal(t, http.StatusUnauthorized, p.Status, "attempt %d", i)
	}
	p := b.post("/login", url.Values{"email": {"admin@example.com"}, "password": {coderdtest.FirstUserPassword}})
	require.Equal(t, http.StatusTooManyRequests, p.Status, "the right password does not get past the limit either")
	require.Contains(t, p.Body, "Too many sign-in attempts")
	require.Contains(t, p.Body, `value="admin@example.com"`, "the email is kept")
	require.Empty(t, p.Header.Values("Set-Cookie"), "no session")
}
