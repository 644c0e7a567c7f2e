package cli

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// coder create applies a preset's values (the template's default one
// unless told otherwise), under what --parameter gives.
func TestCreateWithPreset(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, 2*time.Minute)
	v := coderdtest.CreateTemplateVersion(t, e.owner, e.org, map[string]string{"main.tf": "# presets"}, nil)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, e.daemon, id, nil)
	require.NoError(t, e.daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{
		Parameters: wsParams,
		Presets: []codersdk.Preset{
			{Name: "US", Default: true, Parameters: []codersdk.PresetParameter{{Name: "region", Value: "us"}, {Name: "image", Value: "ubuntu"}}},
			{Name: "EU debian", Parameters: []codersdk.PresetParameter{{Name: "region", Value: "eu"}, {Name: "image", Value: "debian"}, {Name: "motd", Value: "hallo"}}},
		},
	}}))
	_, err := e.owner.CreateTemplate(ctx, e.org, codersdk.CreateTemplateRequest{Name: "docker", VersionID: v.ID})
	require.NoError(t, err)

	create := func(name string, args ...string) map[string]string {
		t.Helper()
		r := e.start(ctx, nil, append([]string{"create", name, "--template", "docker", "-y"}, args...)...)
		e.playJob(t, ctx, r, jobOutcome{lines: []string{"creating " + name}})
		require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
		ws, err := e.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, name)
		require.NoError(t, err)
		return buildParams(t, ctx, e.owner, ws.LatestBuild)
	}
	got := create("a")
	require.Equal(t, map[string]string{"region": "us", "image": "ubuntu", "motd": "hi"}, got, "the default preset")
	got = create("b", "--preset", "EU debian", "--parameter", "motd=moin")
	require.Equal(t, map[string]string{"region": "eu", "image": "debian", "motd": "moin"}, got, "--parameter wins over the preset")

	code, _, stderr := e.exec(t, ctx, nil, "create", "c", "--template", "docker", "-y", "--preset", "none")
	require.NotEqual(t, 0, code, "without the default preset, the required image is missing")
	require.Contains(t, stderr, "image")
	code, _, stderr = e.exec(t, ctx, nil, "create", "c", "--template", "docker", "-y", "--preset", "Asia")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `no preset "Asia": the template's presets are "US", "EU debian" (or "none")`)
}
