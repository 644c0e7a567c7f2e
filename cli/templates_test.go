package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// writeFiles creates files (name -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func tarNames(t *testing.T, data []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[h.Name] = string(b)
	}
}

func TestTarTemplate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.tf":                        "resource {}",
		".terraform.lock.hcl":            "lock",
		"scripts/setup.sh":               "#!/bin/sh",
		"terraform.tfstate":              "secret state",
		"terraform.tfstate.backup":       "old state",
		".terraform/providers/x":         "binary",
		"modules/m/.terraform/modules/y": "cache",
		".git/config":                    "git",
	})
	require.NoError(t, os.Chmod(filepath.Join(dir, "scripts/setup.sh"), 0o755))
	require.NoError(t, os.Symlink("main.tf", filepath.Join(dir, "link.tf")))

	data, stats, err := tarTemplate(dir, 1<<20)
	require.NoError(t, err)
	require.Equal(t, 3, stats.files)
	require.Equal(t, map[string]string{
		"main.tf": "resource {}", ".terraform.lock.hcl": "lock", "scripts/": "", "scripts/setup.sh": "#!/bin/sh",
		"modules/": "", "modules/m/": "", "link.tf": "",
	}, tarNames(t, data))
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		switch h.Name {
		case "scripts/setup.sh":
			require.Equal(t, int64(0o755), h.Mode, "the exec bit is kept")
		case "link.tf":
			require.Equal(t, byte(tar.TypeSymlink), h.Typeflag)
			require.Equal(t, "main.tf", h.Linkname)
		}
	}
	// Same content, same bytes: a re-push reuses the stored file.
	require.NoError(t, os.Chtimes(filepath.Join(dir, "main.tf"), time.Now(), time.Now().Add(-time.Hour)))
	again, _, err := tarTemplate(dir, 1<<20)
	require.NoError(t, err)
	require.Equal(t, data, again)

	big := t.TempDir()
	writeFiles(t, big, map[string]string{"main.tf": "x", "assets/huge.bin": strings.Repeat("x", 2<<20)})
	_, _, err = tarTemplate(big, 1<<20)
	require.ErrorContains(t, err, "too large to upload: the limit is 1.0 MiB")
	require.ErrorContains(t, err, "2.0 MiB  assets/huge.bin")

	empty := t.TempDir()
	writeFiles(t, empty, map[string]string{"README.md": "hi"})
	_, _, err = tarTemplate(empty, 1<<20)
	require.ErrorContains(t, err, "has no .tf files")
}

func TestTemplatesPush(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, 2*time.Minute)
	dir := filepath.Join(t.TempDir(), "docker")
	writeFiles(t, dir, map[string]string{"main.tf": "# v1"})

	// First push: the template is created once the import succeeds.
	r := e.start(ctx, nil, "templates", "push", "-d", dir, "--name", "v1", "--tag", "region=eu")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"Initializing provider plugins...", "Plan: 1 to add"}, params: wsParams, tags: map[string]string{"region": "eu"}})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "==> Planning\nInitializing provider plugins...\n==> Applying\nPlan: 1 to add\n")
	require.Contains(t, r.stdout.String(), "Template docker created with version v1")
	tmpl, err := e.owner.TemplateByName(ctx, e.org, "docker")
	require.NoError(t, err)
	v1, err := e.owner.TemplateVersion(ctx, tmpl.ActiveVersionID)
	require.NoError(t, err)
	require.Equal(t, "v1", v1.Name)
	require.Equal(t, "eu", v1.Job.Tags["region"])
	// No daemon had connected when the import was queued: the CLI said so.
	require.Contains(t, r.stderr.String(), "Note: this job needs a provisioner daemon with the tags region=eu. None is connected;")

	// Second push: a new version, promoted.
	writeFiles(t, dir, map[string]string{"main.tf": "# v2"})
	r = e.start(ctx, nil, "templates", "push", "docker", "-d", dir, "-m", "second", "-y")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"importing v2"}, params: wsParams})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "Template docker updated")
	// The eu daemon is live but runs no untagged job.
	require.Contains(t, r.stderr.String(), "Note: this job needs an untagged provisioner daemon (tagged ones run only jobs with their tags). None is connected;")
	tmpl, err = e.owner.TemplateByName(ctx, e.org, "docker")
	require.NoError(t, err)
	require.NotEqual(t, v1.ID, tmpl.ActiveVersionID)

	code, stdout, stderr := e.exec(t, ctx, nil, "templates", "versions", "list", "docker", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var versions []codersdk.TemplateVersion
	require.NoError(t, json.Unmarshal([]byte(stdout), &versions))
	require.Len(t, versions, 2)
	code, stdout, _ = e.exec(t, ctx, nil, "templates", "versions", "list", "docker")
	require.Equal(t, 0, code)
	require.Regexp(t, `v1\s+just now\s+admin\s+succeeded\s+\n`, stdout)
	require.Regexp(t, `succeeded\s+active\s+second`, stdout)

	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "list", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var list []codersdk.Template
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list, 1)
	require.Equal(t, tmpl.ID, list[0].ID)
	code, stdout, _ = e.exec(t, ctx, nil, "templates", "list")
	require.Equal(t, 0, code)
	require.Regexp(t, `docker\s+\S+\s+0\s+admin`, stdout)

	// A failed import prints Terraform's error, exits non-zero and leaves
	// the active version alone.
	writeFiles(t, dir, map[string]string{"main.tf": "# broken"})
	r = e.start(ctx, nil, "templates", "push", "docker", "-d", dir)
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"Error: Unsupported argument"}, fail: "Error: Unsupported argument\n\n  on main.tf line 3"})
	require.NotEqual(t, 0, r.wait(t, ctx))
	require.Contains(t, r.stderr.String(), "failed; template docker was not changed:\nError: Unsupported argument\n\n  on main.tf line 3")
	after, err := e.owner.TemplateByName(ctx, e.org, "docker")
	require.NoError(t, err)
	require.Equal(t, tmpl.ActiveVersionID, after.ActiveVersionID)
}

func TestTemplatesPushFirstFails(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, time.Minute)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.tf": "nope"})
	r := e.start(ctx, nil, "templates", "push", "broken", "-d", dir)
	e.playJob(t, ctx, r, jobOutcome{fail: "Error: Invalid block definition"})
	require.NotEqual(t, 0, r.wait(t, ctx))
	require.Contains(t, r.stderr.String(), "Error: Invalid block definition")
	_, err := e.owner.TemplateByName(ctx, e.org, "broken")
	require.True(t, codersdk.IsStatus(err, 404), "no template after a failed first push: %v", err)

	// Too large: refused before anything is uploaded.
	writeFiles(t, dir, map[string]string{"blob.bin": strings.Repeat("z", 2<<20)})
	code, _, stderr := e.exec(t, ctx, nil, "templates", "push", "broken", "-d", dir, "--max-size-mib", "1")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "too large to upload")
}

func TestTemplatesDelete(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	e.createWorkspace(t, ctx, "dev")

	code, _, stderr := e.exec(t, ctx, nil, "templates", "delete", "docker")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "pass -y")

	code, _, stderr = e.exec(t, ctx, nil, "templates", "delete", "docker", "-y")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "delete template docker: The template is in use.")
	require.Contains(t, stderr, "Workspaces using it: admin/dev")

	code, _, stderr = e.exec(t, ctx, nil, "delete", "dev", "--orphan", "-y")
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr := e.exec(t, ctx, nil, "templates", "delete", "docker", "-y")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Template docker deleted.")

	code, _, stderr = e.exec(t, ctx, nil, "templates", "delete", "docker", "-y")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `template "docker" not found`)
}

func TestTemplatesInit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, time.Minute)
	code, stdout, stderr := e.exec(t, ctx, nil, "templates", "init")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "--id")
	require.Contains(t, stdout, "docker")

	dir := filepath.Join(t.TempDir(), "tpl")
	code, stdout, stderr = e.exec(t, ctx, nil, "templates", "init", "--id", "docker", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "coder templates push docker -d "+dir)
	_, err := os.Stat(filepath.Join(dir, "main.tf"))
	require.NoError(t, err)

	// The example packs and imports as it is.
	r := e.start(ctx, nil, "templates", "push", "docker", "-d", dir)
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"importing the example"}})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "Template docker created")

	// Writing again is harmless; a file with other content is never
	// overwritten.
	code, _, stderr = e.exec(t, ctx, nil, "templates", "init", "--id", "docker", dir)
	require.Equal(t, 0, code, stderr)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte("# mine"), 0o644))
	code, _, stderr = e.exec(t, ctx, nil, "templates", "init", "--id", "docker", dir)
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "nothing was written")
	mine, err := os.ReadFile(filepath.Join(dir, "main.tf"))
	require.NoError(t, err)
	require.Equal(t, "# mine", string(mine))
	code, _, stderr = e.exec(t, ctx, nil, "templates", "init", "--id", "nope", filepath.Join(t.TempDir(), "x"))
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `no example template "nope"`)
}
