package site

import (
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/codersdk"
)

// sshKeyData is the SSH key page: the git SSH public key of the caller, or
// of the user named by ?user= (owners and user admins; the API answers 404
// to anyone else, and so does the page).
type sshKeyData struct {
	Key codersdk.GitSSHKey
	// Fingerprint is the key's SHA256 fingerprint, as ssh-keygen -l and
	// GitHub show it.
	Fingerprint string
	// For names the user when it is not the caller ("" for yourself).
	For string
}

// sshKeyTarget is whose key a request is about: the user field of a form
// or query, the caller when absent.
func sshKeyTarget(v url.Values) string {
	if u := strings.TrimSpace(v.Get("user")); u != "" && u != codersdk.Me {
		return u
	}
	return ""
}

func (s *Site) sshKeyPage(w http.ResponseWriter, r *http.Request) {
	target := sshKeyTarget(r.URL.Query())
	who := target
	if who == "" {
		who = codersdk.Me
	}
	key, err := s.client(currentUser(r.Context()).Token).GitSSHKey(r.Context(), who)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	data := sshKeyData{Key: key, For: target}
	if pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key.PublicKey)); err == nil {
		data.Fingerprint = ssh.FingerprintSHA256(pub)
	}
	v := view{Title: "SSH key", Data: data}
	if r.URL.Query().Get("regenerated") != "" {
		v.Flash = "A new SSH key was generated. Replace the old one at your git provider with it."
	}
	s.render(w, r, http.StatusOK, "sshkey", v)
}

// postRegenerateSSHKey replaces the key (the form carries a data-confirm)
// and goes back to the page, which shows the new key.
func (s *Site) postRegenerateSSHKey(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	target := sshKeyTarget(r.PostForm)
	who := target
	if who == "" {
		who = codersdk.Me
	}
	if _, err := s.client(currentUser(r.Context()).Token).RegenerateGitSSHKey(r.Context(), who); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	q := url.Values{"regenerated": {"1"}}
	if target != "" {
		q.Set("user", target)
	}
	http.Redirect(w, r, "/account/ssh-key?"+q.Encode(), http.StatusSeeOther)
}
