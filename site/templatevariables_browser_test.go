package site_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// TestBrowserTemplateVariables: a template's page in Chromium lists its
// active version's Terraform variables as the API gives them to the
// viewer: the value pushed, the default when none was, "(sensitive)" and
// never the sensitive value. A template without variables has no such
// section.
func TestBrowserTemplateVariables(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	_, member := coderdtest.CreateAnotherUser(t, client)
	ctx := testutil.Context(t, testutil.WaitLong)

	create := func(name string, declared []codersdk.TemplateVersionVariable, vals ...codersdk.VariableValue) {
		t.Helper()
		v := coderdtest.CreateTemplateVersionWith(t, client, first.OrganizationID, map[string]string{"main.tf": "# " + name},
			codersdk.CreateTemplateVersionRequest{UserVariableValues: vals})
		coderdtest.CompleteImportWith(t, daemon, codersdk.CompletedTemplateImport{Variables: declared})
		_, err := client.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: name, VersionID: v.ID})
		require.NoError(t, err)
	}
	create("vars", []codersdk.TemplateVersionVariable{
		{Name: "region", Description: "Where workspaces run", Type: "string", Required: true},
		{Name: "replicas", Type: "number", DefaultValue: "2"},
		{Name: "token", Type: "string", Sensitive: true, Required: true},
	}, codersdk.VariableValue{Name: "region", Value: "eu-west"}, codersdk.VariableValue{Name: "token", Value: "s3cret-dash-42"})
	create("plain", nil)
	org, err := client.Organization(ctx, first.OrganizationID.String())
	require.NoError(t, err)

	b := sitetest.New(t, sitetest.Options{Timeout: time.Minute})
	for _, email := range []string{"admin@example.com", member.Email} {
		p := b.Open(srv.URL.String()+"/login", true)
		p.Fill(`input[name=email]`, email)
		p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
		p.Click(`main form button[type=submit]`)

		p.Navigate(srv.URL.String() + "/templates/" + org.Name + "/vars")
		row := func(name string) string { return `#variables tr[data-variable="` + name + `"]` }
		require.Equal(t, "eu-west", p.Text(row("region")+` td[data-value]`), email)
		require.Contains(t, p.Text(row("region")), "Where workspaces run", email)
		require.Contains(t, p.Text(row("region")), "required", email)
		require.Equal(t, "2 (default)", p.Text(row("replicas")+` td[data-value]`), email)
		require.Contains(t, p.Text(row("replicas")), "number", email)
		require.Equal(t, "(sensitive)", p.Text(row("token")+` td[data-value]`), email)
		html, err := p.HTML()
		require.NoError(t, err)
		require.NotContains(t, html, "s3cret-dash-42", email)

		p.Navigate(srv.URL.String() + "/templates/" + org.Name + "/plain")
		p.WaitText(`main h1`, regexp.MustCompile(`^plain$`), 30*time.Second)
		has, _, err := p.Has(`#variables`)
		require.NoError(t, err)
		require.False(t, has, "%s: a template without variables has no Variables section", email)
	}
}
