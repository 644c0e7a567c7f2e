package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// coder update moves an outdated workspace to the active version, carrying
// its parameter values and asking only for what the new version adds.
func TestUpdate(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tmpl := e.createTemplate(t)
	ctx := testutil.Context(t, 2*time.Minute)
	ws := e.createWorkspace(t, ctx, "dev")
	var after codersdk.Workspace

	code, _, stderr := e.exec(t, ctx, nil, "update", "dev", "-y")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "already on the template's active version")

	// v2 adds a required parameter without a default.
	v2params := append(append([]codersdk.TemplateVersionParameter{}, wsParams...),
		codersdk.TemplateVersionParameter{Name: "gpu", Type: "string", Required: true, Description: "GPU model"})
	up, err := e.owner.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, map[string]string{"main.tf": "# v2"})))
	require.NoError(t, err)
	v2, err := e.owner.CreateTemplateVersion(ctx, e.org, codersdk.CreateTemplateVersionRequest{TemplateID: tmpl.ID, FileID: up.ID})
	require.NoError(t, err)
	coderdtest.CompleteImport(t, e.daemon, v2params)
	require.NoError(t, e.owner.UpdateActiveTemplateVersion(ctx, tmpl.ID, codersdk.UpdateActiveTemplateVersion{ID: v2.ID}))

	// Not a terminal: the new required parameter must be given.
	code, _, stderr = e.exec(t, ctx, nil, "update", "dev", "-y")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "gpu")
	require.NotContains(t, stderr, "image", "values from the last build are not asked for again")

	// The server's rules hold: an immutable value cannot change.
	code, _, stderr = e.exec(t, ctx, nil, "update", "dev", "-y", "--parameter", "gpu=a100", "--parameter", "motd=hello")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "parameter motd: cannot be changed after the workspace was created")

	r := e.start(ctx, nil, "update", "dev", "-y", "--parameter", "gpu=a100")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"updating dev"}})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "running on the template's active version")

	after, err = e.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.False(t, after.Outdated)
	require.Equal(t, v2.ID, after.LatestBuild.TemplateVersionID)
	got := buildParams(t, ctx, e.owner, after.LatestBuild)
	require.Equal(t, "ubuntu", got["image"], "carried over from the last build")
	require.Equal(t, "a100", got["gpu"])
	require.Equal(t, "hi", got["motd"])
}
