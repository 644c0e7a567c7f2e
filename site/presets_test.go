package site_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// The create form offers the template's presets: the default one fills
// the fields at first, ?preset= picks another or none, and a workspace
// created from the form gets the values shown.
func TestCreateFormPresets(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	d := &dashboard{URL: srv.URL, Client: client, Server: srv}
	first := coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	ctx := testutil.Context(t, testutil.WaitMedium)

	v := coderdtest.CreateTemplateVersion(t, client, first.OrganizationID, map[string]string{"main.tf": "# presets"}, nil)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{
		Parameters: []codersdk.TemplateVersionParameter{{Name: "size", Type: "string", DefaultValue: "medium"}},
		Presets: []codersdk.Preset{
			{Name: "Tiny", Default: true, Parameters: []codersdk.PresetParameter{{Name: "size", Value: "tiny"}}},
			{Name: "Huge", Description: "for builds", Parameters: []codersdk.PresetParameter{{Name: "size", Value: "huge"}}},
		},
	}}))
	tmpl, err := client.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "sized", VersionID: v.ID})
	require.NoError(t, err)
	org, err := client.Organization(ctx, first.OrganizationID.String())
	require.NoError(t, err)

	b := d.browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)
	page := "/templates/" + org.Name + "/" + tmpl.Name + "/workspace"
	p := b.get(page)
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, `<option value="Tiny" selected>Tiny (default)</option>`)
	require.Contains(t, p.Body, `name="param.size" value="tiny"`, "the default preset fills the form")
	p = b.get(page + "?preset=Huge")
	require.Contains(t, p.Body, `<option value="Huge" selected>Huge: for builds</option>`)
	require.Contains(t, p.Body, `name="param.size" value="huge"`)
	p = b.get(page + "?preset=")
	require.Contains(t, p.Body, `name="param.size" value="medium"`, "no preset: the template's default")

	p = b.post(page+"?preset=Huge", url.Values{"name": {"big"}, "param.size": {"huge"}})
	require.Equal(t, http.StatusSeeOther, p.Status, p.Body)
	ws, err := client.WorkspaceByOwnerAndName(ctx, codersdk.Me, "big")
	require.NoError(t, err)
	params, err := client.WorkspaceBuildParameters(ctx, ws.LatestBuild.ID)
	require.NoError(t, err)
	require.Equal(t, []codersdk.WorkspaceBuildParameter{{Name: "size", Value: "huge"}}, params)
}
