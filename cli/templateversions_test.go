package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// Versions are promoted, archived and restored by name, and a template's
// source comes back out with pull exactly as it was pushed.
func TestTemplateVersionsAndPull(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, 2*time.Minute)
	dir := filepath.Join(t.TempDir(), "docker")
	for _, v := range []string{"v1", "v2"} {
		writeFiles(t, dir, map[string]string{"main.tf": "# " + v, "scripts/start.sh": "echo " + v})
		r := e.start(ctx, nil, "templates", "push", "docker", "-d", dir, "--name", v, "-y")
		e.playJob(t, ctx, r, jobOutcome{params: wsParams})
		require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	}

	// pull: the active version by default, another with --version.
	out := filepath.Join(t.TempDir(), "pulled")
	code, stdout, stderr := e.exec(t, ctx, nil, "templates", "pull", "docker", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Wrote version v2 of docker (2 files)")
	got, err := os.ReadFile(filepath.Join(out, "main.tf"))
	require.NoError(t, err)
	require.Equal(t, "# v2", string(got))
	got, err = os.ReadFile(filepath.Join(out, "scripts", "start.sh"))
	require.NoError(t, err)
	require.Equal(t, "echo v2", string(got))
	code, _, stderr = e.exec(t, ctx, nil, "templates", "pull", "docker", out, "--version", "v1")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "is not empty")
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "pull", "docker", "--version", "v1", "--tar")
	require.Equal(t, 0, code, stderr)
	tr := tar.NewReader(bytes.NewReader([]byte(stdout)))
	found := false
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		found = found || h.Name == "main.tf"
	}
	require.True(t, found, "the tar holds main.tf")
	code, _, stderr = e.exec(t, ctx, nil, "templates", "pull", "docker", "--version", "v9", "--tar")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `no version "v9" (its versions: v2, v1)`)

	// promote, archive, unarchive.
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "versions", "archive", "docker", "v2")
	require.NotEqual(t, 0, code, stdout)
	require.Contains(t, stderr, "The active version cannot be archived")
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "versions", "promote", "docker", "v1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Version v1 is now the active version of docker")
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "versions", "archive", "docker", "v2")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Version v2 of docker archived")
	code, stdout, _ = e.exec(t, ctx, nil, "templates", "versions", "list", "docker")
	require.Equal(t, 0, code)
	require.NotContains(t, stdout, "v2")
	code, stdout, _ = e.exec(t, ctx, nil, "templates", "versions", "list", "docker", "--include-archived")
	require.Equal(t, 0, code)
	require.Regexp(t, `v2\s.*archived`, stdout)
	code, _, stderr = e.exec(t, ctx, nil, "templates", "versions", "promote", "docker", "v2")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "archived")
	code, _, stderr = e.exec(t, ctx, nil, "templates", "versions", "unarchive", "docker", "v1")
	require.NotEqual(t, 0, code, "v1 is not archived")
	require.Contains(t, stderr, "not archived")
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "versions", "unarchive", "docker", "v2")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Version v2 of docker restored")
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "versions", "promote", "docker", "v2")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "now the active version")
}

func TestTemplatesEdit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tmpl := e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)

	code, _, stderr := e.exec(t, ctx, nil, "templates", "edit", "docker")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "nothing to change")
	code, _, stderr = e.exec(t, ctx, nil, "templates", "edit", "docker", "--name", "bad name")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "name: must contain only letters")

	code, stdout, stderr := e.exec(t, ctx, nil, "templates", "edit", "docker", "--display-name", "Docker box", "--require-active-version", "--allow-user-cancel-workspace-jobs=false")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, `Template docker updated (display name "Docker box", require active version true, users may cancel builds false)`)
	got, err := e.owner.Template(ctx, tmpl.ID)
	require.NoError(t, err)
	require.Equal(t, "Docker box", got.DisplayName)
	require.True(t, got.RequireActiveVersion)
	require.False(t, got.AllowUserCancelWorkspaceJobs)
	require.Equal(t, tmpl.Description, got.Description, "untouched")
}
