package site_test

import (
	"html/template"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// The starter flow: pick a built-in template, watch its import, name it;
// each step answers bad input by its field and refuses what the API
// refuses.
func TestStarterTemplates(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{Logger: testutil.Logger(t), ProvisionerPSK: coderdtest.TestPSK})
	d := &dashboard{URL: srv.URL, Client: client, Server: srv}
	coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	_, member := coderdtest.CreateAnotherUser(t, client)

	ctx := testutil.Context(t, testutil.WaitMedium)
	orgs, err := client.OrganizationsByUser(ctx, codersdk.Me)
	require.NoError(t, err)
	org := orgs[0]
	b := d.browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)

	p := b.get("/templates")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `href="/templates/new"`, "the empty list offers the starters")
	p = b.get("/templates/new")
	require.Equal(t, http.StatusOK, p.Status)
	for _, id := range []string{"docker", "kubernetes", "aws-linux", "gcp-linux"} {
		require.Contains(t, p.Body, `data-starter="`+id+`"`)
	}

	bad := []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"bad name", url.Values{"example": {"docker"}, "name": {"no spaces!"}, "organization": {org.Name}}, http.StatusBadRequest, "letters, digits and single hyphens"},
		{"empty name", url.Values{"example": {"docker"}, "name": {""}, "organization": {org.Name}}, http.StatusBadRequest, "is required"},
		{"unknown starter", url.Values{"example": {"nope"}, "name": {"x"}, "organization": {org.Name}}, http.StatusBadRequest, `no starter template &#34;nope&#34;`},
		{"unknown organization", url.Values{"example": {"docker"}, "name": {"x"}, "organization": {"elsewhere"}}, http.StatusBadRequest, "no organization elsewhere"},
	}
	for _, tc := range bad {
		p := b.post("/templates/new", tc.form)
		require.Equal(t, tc.status, p.Status, "%s: %s", tc.name, p.Body)
		require.Contains(t, p.Body, tc.want, tc.name)
		if tc.form.Get("example") == "docker" {
			require.Contains(t, p.Body, `class="field-error"`, "%s: shown by its field", tc.name)
		}
		if n := tc.form.Get("name"); n != "" && tc.form.Get("example") == "docker" {
			require.Contains(t, p.Body, `value="`+template.HTMLEscapeString(n)+`"`, "%s: the input is kept", tc.name)
		}
	}

	p = b.post("/templates/new", url.Values{"example": {"docker"}, "name": {"dock"}, "organization": {org.Name}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	importURL := p.Location
	require.Regexp(t, `^/templates/new\?version=[0-9a-f-]{36}&name=dock$`, importURL)
	p = b.get(importURL)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `data-status="pending"`)
	require.Contains(t, p.Body, `data-poll=`, "an import in progress refreshes itself")
	require.NotContains(t, p.Body, `id="create-template"`, "no template before the import succeeded")

	coderdtest.CompleteImport(t, daemon, nil)
	p = b.get(importURL + "&partial=status")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `data-status="succeeded"`)
	require.Contains(t, p.Body, `data-poll-done`)
	require.Contains(t, p.Body, `id="create-template"`)
	version := mustQuery(t, importURL, "version")

	// A taken name is refused by the field, the version kept for a retry.
	other := coderdtest.CreateTemplateVersion(t, client, org.ID, map[string]string{"main.tf": "# other"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	_, err = client.CreateTemplate(ctx, org.ID, codersdk.CreateTemplateRequest{Name: "taken", VersionID: other.ID})
	require.NoError(t, err)
	p = b.post("/templates/new", url.Values{"step": {"template"}, "version": {version}, "name": {"taken"}})
	require.Equal(t, http.StatusConflict, p.Status, p.Body)
	require.Contains(t, p.Body, `value="taken"`)
	p = b.post("/templates/new", url.Values{"example": {"docker"}, "name": {"taken"}, "organization": {org.Name}})
	require.Equal(t, http.StatusConflict, p.Status, "a taken name is reported before the import")

	p = b.post("/templates/new", url.Values{"step": {"template"}, "version": {version}, "name": {"dock"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	require.Equal(t, "/templates/"+org.Name+"/dock", p.Location)
	tmpl, err := client.TemplateByName(ctx, org.ID, "dock")
	require.NoError(t, err)
	require.Equal(t, version, tmpl.ActiveVersionID.String())

	p = b.get("/templates/new?version=not-a-uuid")
	require.Equal(t, http.StatusNotFound, p.Status)

	// A member gets no button, and the API's refusal if they try anyway.
	mb := d.browser(t)
	mb.login(member.Email, coderdtest.FirstUserPassword)
	p = mb.get("/templates")
	require.NotContains(t, p.Body, `id="new-template"`)
	p = mb.post("/templates/new", url.Values{"example": {"docker"}, "name": {"mine"}, "organization": {org.Name}})
	require.Equal(t, http.StatusForbidden, p.Status, p.Body)
	p = mb.post("/templates/new", url.Values{"step": {"template"}, "version": {version}, "name": {"mine"}})
	require.Equal(t, http.StatusForbidden, p.Status, p.Body)
}

func mustQuery(t *testing.T, rawURL, key string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return u.Query().Get(key)
}
