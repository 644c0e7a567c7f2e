package site_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/site/sitetest"
)

// TestBrowserAdmin walks the admin pages in Chromium as an owner: the
// Admin link, creating a user through the form (a refused attempt first:
// the error by its field, the input kept), suspending them through the
// confirm dialog, the audit entry that left, and the health page.
func TestBrowserAdmin(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	coderdtest.CreateFirstUser(t, d.Client)
	b := sitetest.New(t, sitetest.Options{})

	p := b.Open(d.URL.String()+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)
	p.Click(`header nav a[href="/admin/users"]`)
	require.True(t, strings.HasSuffix(p.URL(), "/admin/users"), p.URL())
	p.WaitText(`#users`, regexp.MustCompile(`admin@example\.com`), 10*time.Second)

	// The username is taken: refused by its field, what was typed kept.
	p.Fill(`#new-user input[name=username]`, "admin")
	p.Fill(`#new-user input[name=email]`, "bob@example.com")
	p.Fill(`#new-user input[name=password]`, "SomePass!234")
	p.Submit(`#new-user button[type=submit]`)
	p.WaitText(`#new-user .field-error`, regexp.MustCompile(`already taken`), 10*time.Second)
	require.Equal(t, "bob@example.com", p.Find(`#new-user input[name=email]`).MustProperty("value").String())

	p.Fill(`#new-user input[name=username]`, "bob")
	p.Fill(`#new-user input[name=password]`, "SomePass!234")
	p.Submit(`#new-user button[type=submit]`)
	p.WaitText(`.flash`, regexp.MustCompile(`User bob created\.`), 10*time.Second)
	p.WaitText(`tr[data-user="bob"]`, regexp.MustCompile(`active`), 10*time.Second)

	p.SubmitConfirmed(`tr[data-user="bob"] button.danger`)
	p.WaitText(`tr[data-user="bob"]`, regexp.MustCompile(`suspended`), 10*time.Second)

	p.Click(`nav.subnav a[href="/admin/audit"]`)
	p.Find(`select[name=action]`).MustSelect("write")
	p.Fill(`input[name=resource_type]`, "user")
	p.Submit(`form.filter button[type=submit]`)
	p.WaitText(`#audit tbody tr`, regexp.MustCompile(`admin\s+write\s+user bob\s+200`), 10*time.Second)

	p.Click(`nav.subnav a[href="/admin/health"]`)
	p.WaitText(`[data-check="Database"] h3`, regexp.MustCompile(`healthy`), 10*time.Second)
	p.WaitText(`[data-check="Websocket"] h3`, regexp.MustCompile(`healthy`), 10*time.Second)
	p.WaitText(`[data-check="Provisioners"]`, regexp.MustCompile(`unhealthy[\s\S]*no provisioner daemon has connected`), 10*time.Second)
}
