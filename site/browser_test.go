package site_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"

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

// TestBrowserAccountAndLists opens the pages a signed-in user meets before
// any workspace exists, in Chromium: the template list, a bad workspace
// filter (the error by the field, the input kept), and tokens (create, shown
// once, a bad lifetime refused by its field, revoke).
func TestBrowserAccountAndLists(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	coderdtest.CreateFirstUser(t, d.Client)
	b := sitetest.New(t, sitetest.Options{})

	p := b.Open(d.URL.String()+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)

	p.Navigate(d.URL.String() + "/templates")
	p.WaitText(`main table`, regexp.MustCompile(`No templates yet`), 10*time.Second)

	p.Navigate(d.URL.String() + "/workspaces?filter=" + "colour:blue")
	p.WaitText(`.field-error`, regexp.MustCompile(`unknown filter colour`), 10*time.Second)
	require.Equal(t, "colour:blue", p.Find(`input[name=filter]`).MustProperty("value").String())

	p.Navigate(d.URL.String() + "/account/tokens")
	p.Fill(`input[name=name]`, "ci")
	p.Fill(`input[name=lifetime]`, "soon")
	p.Click(`main form button[type=submit]`)
	p.WaitText(`.field-error`, regexp.MustCompile(`positive duration`), 10*time.Second)

	p.Fill(`input[name=lifetime]`, "24h")
	p.Click(`main form button[type=submit]`)
	token := p.WaitText(`#new-token`, regexp.MustCompile(`\S{20,}`), 10*time.Second)
	p.WaitText(`main table`, regexp.MustCompile(`ci`), 10*time.Second)

	// The token works against the API, and is not shown again.
	c := codersdk.New(d.URL)
	c.SetSessionToken(token)
	me, err := c.User(testutil.Context(t, testutil.WaitShort), codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, "admin", me.Username)
	p.Navigate(d.URL.String() + "/account/tokens")
	require.NotContains(t, p.MustHTML(), token)

	p.SubmitConfirmed(`button.danger`)
	p.WaitText(`main table`, regexp.MustCompile(`No tokens`), 10*time.Second)
	_, err = c.User(testutil.Context(t, testutil.WaitShort), codersdk.Me)
	require.True(t, codersdk.IsStatus(err, 401), "a revoked token is refused: %v", err)
}
