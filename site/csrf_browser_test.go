package site_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// TestBrowserForgedPostRefused: a page on another origin tricks a signed-in
// user's Chromium into posting the dashboard's own form (create a token). Same-site
// origins (another port on 127.0.0.1: the session cookie, SameSite=Lax, is
// sent) and cross-site ones (evil.localhost) are both refused, and nothing
// is created; the same form from the dashboard itself works.
func TestBrowserForgedPostRefused(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	coderdtest.CreateFirstUser(t, d.Client)
	dash := d.URL.String()

	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		name := r.URL.Query().Get("name")
		fmt.Fprintf(w, `<!doctype html><title>prize</title>
<form id="f" method="post" action="%s/account/tokens"><input name="name" value="%s"><input name="lifetime" value="24h"><button>Claim your prize</button></form>`, dash, name)
	}))
	t.Cleanup(evil.Close)
	evilPort := evil.URL[strings.LastIndex(evil.URL, ":")+1:]

	b := sitetest.New(t, sitetest.Options{Timeout: 30 * time.Second})
	p := b.Open(dash+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)
	require.True(t, strings.HasSuffix(p.URL(), "/workspaces"), p.URL())

	for _, tc := range []struct{ name, origin string }{
		{"same-site", "http://127.0.0.1:" + evilPort},
		{"cross-site", "http://evil.localhost:" + evilPort},
	} {
		attack := p.NewTab(tc.origin + "/?name=forged-" + tc.name)
		attack.Submit(`#f button`)
		attack.WaitText(`body`, regexp.MustCompile(`(?i)cross-origin|forbidden|sign in`), 30*time.Second)
		require.Contains(t, attack.URL(), dash, "%s: the form was submitted", tc.name)
		require.NotContains(t, attack.Text(`body`), "Your new token", tc.name)
	}

	ctx := testutil.Context(t, testutil.WaitMedium)
	tokens, err := d.Client.Tokens(ctx, codersdk.Me)
	require.NoError(t, err)
	for _, tok := range tokens {
		require.NotContains(t, tok.TokenName, "forged", "a forged post created a token")
	}

	// The control: the dashboard's own form still works in this browser.
	ctl := p.NewTab(dash + "/account/tokens")
	ctl.Fill(`input[name=name]`, "genuine")
	ctl.Click(`main form button[type=submit]`)
	ctl.WaitText(`#new-token`, regexp.MustCompile(`\S`), 10*time.Second)
}
