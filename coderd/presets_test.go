package coderd_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// An import's presets are stored with the version and listed in order.
func TestTemplateVersionPresets(t *testing.T) {
	t.Parallel()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, 30*time.Second)
	v := coderdtest.CreateTemplateVersion(t, owner, org, map[string]string{"main.tf": "# presets"}, nil)

	got, err := owner.TemplateVersionPresets(ctx, v.ID)
	require.NoError(t, err)
	require.Empty(t, got, "nothing before the import")

	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	presets := []codersdk.Preset{
		{Name: "Small", Default: true, Parameters: []codersdk.PresetParameter{{Name: "region", Value: "us"}}},
		{Name: "Large", Description: "8 cores", Parameters: []codersdk.PresetParameter{{Name: "region", Value: "eu"}, {Name: "cpus", Value: "8"}}},
	}
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{
		Parameters: testParams, Presets: presets,
	}}))
	got, err = owner.TemplateVersionPresets(ctx, v.ID)
	require.NoError(t, err)
	require.Equal(t, presets, got)
}
