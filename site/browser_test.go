package site_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/site/sitetest"
)

// TestBrowserFirstRun is the first thing a new user does, in Chromium:
// open the dashboard, be sent to /setup, create the owner, land signed in;
// sign out; sign in again through the login form.
func TestBrowserFirstRun(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	b := sitetest.New(t, sitetest.Options{})

	p := b.Open(d.URL.String()+"/workspaces", true)
	require.True(t, strings.HasSuffix(p.URL(), "/setup"), "a fresh deployment sends the browser to /setup, got %s", p.URL())
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=username]`, "admin")
	p.Fill(`input[name=password]`, "SomePass!234")
	p.Fill(`input[name=password_confirm]`, "SomePass!234")
	p.Click(`main form button[type=submit]`)
	require.True(t, strings.HasSuffix(p.URL(), "/templates"), "after setup: %s", p.URL())
	require.Equal(t, "admin", p.Text(".who"))

	p.Click(`form.logout button`)
	require.Contains(t, p.URL(), "/login")
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, "wrong-password!")
	p.Click(`main form button[type=submit]`)
	p.WaitText(`.error`, regexp.MustCompile(`Incorrect email or password`), 10*time.Second)
	require.Equal(t, "admin@example.com", p.Find(`input[name=email]`).MustProperty("value").String(), "the email is kept")

	p.Fill(`input[name=password]`, "SomePass!234")
	p.Click(`main form button[type=submit]`)
	require.True(t, strings.HasSuffix(p.URL(), "/workspaces"), "after login: %s", p.URL())
	p.WaitText(`#workspaces`, regexp.MustCompile(`No workspaces match`), 10*time.Second)
}
