package coderd_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/templates"
	"github.com/opencoder/coder/testutil"
)

// A starter template becomes a version whose source is exactly the
// template shipped in the binary, with no upload from the caller.
func TestTemplateVersionFromExample(t *testing.T) {
	t.Parallel()
	owner, _, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, testutil.WaitMedium)

	examples, err := owner.TemplateExamples(ctx)
	require.NoError(t, err)
	var ids []string
	for _, e := range examples {
		ids = append(ids, e.ID)
		require.NotEmpty(t, e.Name, e.ID)
		require.NotEmpty(t, e.Markdown, e.ID)
	}
	require.Contains(t, ids, "docker")

	v, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{ExampleID: "docker"})
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobPending, v.Job.Status)
	got, _, err := owner.Download(ctx, v.Job.FileID)
	require.NoError(t, err)
	want, err := templates.Archive("docker")
	require.NoError(t, err)
	require.Equal(t, want, got, "the version's source is the shipped template")

	// The same starter twice shares one stored file.
	v2, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{ExampleID: "docker"})
	require.NoError(t, err)
	require.Equal(t, v.Job.FileID, v2.Job.FileID)
}
