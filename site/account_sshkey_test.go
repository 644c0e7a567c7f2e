package site_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// TestSSHKeyPage: the account's SSH key page shows the key the API holds
// (read-only, with its SHA256 fingerprint and times); Regenerate replaces
// it after a confirm; a member cannot see or regenerate someone else's key
// (the API's 404), while an owner can.
func TestSSHKeyPage(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	owner := d.ownerBrowser(t)
	member, memberUser := d.signIn(t, d.Client)
	ctx := testutil.Context(t, testutil.WaitLong)
	apiKey := func(user string) codersdk.GitSSHKey {
		t.Helper()
		k, err := d.Client.GitSSHKey(ctx, user)
		require.NoError(t, err)
		return k
	}
	fingerprint := func(k codersdk.GitSSHKey) string {
		t.Helper()
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey))
		require.NoError(t, err)
		return ssh.FingerprintSHA256(pub)
	}

	p := owner.get("/account/ssh-key")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	key := apiKey(codersdk.Me)
	require.Contains(t, p.Body, `<textarea id="public-key" readonly`)
	require.Contains(t, html.UnescapeString(p.Body), ">"+key.PublicKey+"</textarea>")
	require.Contains(t, html.UnescapeString(p.Body), `<code id="fingerprint">`+fingerprint(key)+"</code>")
	require.Contains(t, p.Body, `action="/account/ssh-key/regenerate"`)
	require.Contains(t, p.Body, `data-confirm="Regenerate this SSH key?`)
	require.Contains(t, p.Body, `href="/account/ssh-key" aria-current="page">SSH key</a>`)
	require.NotContains(t, p.Body, "PRIVATE KEY")
	require.Contains(t, owner.get("/account/tokens").Body, `href="/account/ssh-key">SSH key</a>`, "the account nav links the page")

	// Regenerate: a new key in the API and on the page.
	p = owner.post("/account/ssh-key/regenerate", url.Values{})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/account/ssh-key?regenerated=1", p.Location)
	fresh := apiKey(codersdk.Me)
	require.NotEqual(t, key.PublicKey, fresh.PublicKey)
	p = owner.get(p.Location)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, html.UnescapeString(p.Body), ">"+fresh.PublicKey+"</textarea>")
	require.Contains(t, p.Body, "A new SSH key was generated")

	// A member sees their own key, not the owner's, and cannot replace it.
	p = member.get("/account/ssh-key")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	memberKey := apiKey(memberUser.Username)
	require.Contains(t, html.UnescapeString(p.Body), ">"+memberKey.PublicKey+"</textarea>")
	require.NotContains(t, p.Body, fresh.PublicKey)
	require.Equal(t, http.StatusNotFound, member.get("/account/ssh-key?user=admin").Status)
	p = member.post("/account/ssh-key/regenerate", url.Values{"user": {"admin"}})
	require.Equal(t, http.StatusNotFound, p.Status, p.Body)
	require.Equal(t, fresh, apiKey(codersdk.Me), "the member's attempt changed nothing")
	require.Equal(t, memberKey, apiKey(memberUser.Username), "nor the member's own key")

	// An owner may look at and replace a member's key.
	p = owner.get("/account/ssh-key?user=" + memberUser.Username)
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Contains(t, p.Body, "SSH key of "+memberUser.Username)
	require.Contains(t, html.UnescapeString(p.Body), ">"+memberKey.PublicKey+"</textarea>")
	p = owner.post("/account/ssh-key/regenerate", url.Values{"user": {memberUser.Username}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/account/ssh-key?regenerated=1&user="+memberUser.Username, p.Location)
	require.NotEqual(t, memberKey.PublicKey, apiKey(memberUser.Username).PublicKey)
	require.Equal(t, fresh, apiKey(codersdk.Me))
}

// TestBrowserSSHKey: in Chromium, the account nav leads to the SSH key page,
// whose read-only box holds the API's key; Regenerate asks first and, once
// accepted, shows the new key.
func TestBrowserSSHKey(t *testing.T) {
	t.Parallel()
	d := newDashboard(t)
	coderdtest.CreateFirstUser(t, d.Client)
	b := sitetest.New(t, sitetest.Options{})
	p := b.Open(d.URL.String()+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)

	p.Navigate(d.URL.String() + "/account/tokens")
	p.Click(`nav.subnav a[href="/account/ssh-key"]`)
	p.WaitText(`h1`, regexp.MustCompile(`^SSH key$`), 10*time.Second)
	box := p.Find(`#public-key`)
	require.True(t, box.MustProperty("readOnly").Bool())
	shown := box.MustProperty("value").String()
	k, err := d.Client.GitSSHKey(testutil.Context(t, testutil.WaitShort), codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, k.PublicKey, shown)

	p.SubmitConfirmed(`button.danger`)
	p.WaitText(`.flash`, regexp.MustCompile(`new SSH key was generated`), 10*time.Second)
	k, err = d.Client.GitSSHKey(testutil.Context(t, testutil.WaitShort), codersdk.Me)
	require.NoError(t, err)
	require.NotEqual(t, shown, k.PublicKey)
	require.Equal(t, k.PublicKey, p.Find(`#public-key`).MustProperty("value").String())
}
