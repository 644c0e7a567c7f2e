package templates_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/templates"
)

func TestList(t *testing.T) {
	t.Parallel()
	list := templates.List()
	var ids []string
	for _, tmpl := range list {
		ids = append(ids, tmpl.ID)
		require.NotEmpty(t, tmpl.Name, tmpl.ID)
		require.NotEqual(t, tmpl.ID, tmpl.Name, "%s: README.md front matter lacks display_name", tmpl.ID)
		require.NotEmpty(t, tmpl.Description, "%s: README.md front matter lacks description", tmpl.ID)
	}
	require.Equal(t, []string{"aws-linux", "docker", "gcp-linux", "kubernetes"}, ids)
}

func TestWrite(t *testing.T) {
	t.Parallel()

	main := func(t *testing.T, id string) []byte {
		t.Helper()
		tfs, err := templates.FS(id)
		require.NoError(t, err)
		data, err := fs.ReadFile(tfs, "main.tf")
		require.NoError(t, err)
		return data
	}

	tests := []struct {
		name    string
		id      string
		prepare func(t *testing.T, dir string) // runs before Write
		wantErr error
		check   func(t *testing.T, dir string) // runs after Write
	}{
		{
			name: "new directory",
			id:   "docker",
			check: func(t *testing.T, dir string) {
				require.Equal(t, main(t, "docker"), readFile(t, filepath.Join(dir, "main.tf")))
				require.FileExists(t, filepath.Join(dir, "README.md"))
			},
		},
		{
			name: "nested files",
			id:   "aws-linux",
			check: func(t *testing.T, dir string) {
				require.FileExists(t, filepath.Join(dir, "cloud-init.tftpl"))
			},
		},
		{
			name: "existing identical files are kept",
			id:   "kubernetes",
			prepare: func(t *testing.T, dir string) {
				require.NoError(t, templates.Write("kubernetes", dir))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "extra.tf"), []byte("# mine\n"), 0o644))
			},
			check: func(t *testing.T, dir string) {
				require.Equal(t, main(t, "kubernetes"), readFile(t, filepath.Join(dir, "main.tf")))
				require.Equal(t, "# mine\n", string(readFile(t, filepath.Join(dir, "extra.tf"))))
			},
		},
		{
			name: "a different existing file is not overwritten",
			id:   "docker",
			prepare: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte("# mine\n"), 0o644))
			},
			wantErr: templates.ErrExists,
			check: func(t *testing.T, dir string) {
				require.Equal(t, "# mine\n", string(readFile(t, filepath.Join(dir, "main.tf"))))
				// Nothing is written when one file conflicts.
				require.NoFileExists(t, filepath.Join(dir, "README.md"))
			},
		},
		{
			name:    "unknown id",
			id:      "nope",
			wantErr: templates.ErrUnknownTemplate,
			check: func(t *testing.T, dir string) {
				entries, err := os.ReadDir(dir)
				require.NoError(t, err)
				require.Empty(t, entries)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if tc.prepare != nil {
				tc.prepare(t, dir)
			}
			err := templates.Write(tc.id, dir)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			if tc.check != nil {
				tc.check(t, dir)
			}
		})
	}
}

func TestWriteUnknownListsValidIDs(t *testing.T) {
	t.Parallel()
	err := templates.Write("nope", t.TempDir())
	require.ErrorIs(t, err, templates.ErrUnknownTemplate)
	for _, tmpl := range templates.List() {
		require.Contains(t, err.Error(), tmpl.ID)
	}
	_, err = templates.FS("../docker")
	require.ErrorIs(t, err, templates.ErrUnknownTemplate)
}

func TestWriteIntoFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	err := templates.Write("docker", file)
	require.Error(t, err)
	require.False(t, errors.Is(err, templates.ErrExists))
}

func TestArchive(t *testing.T) {
	t.Parallel()
	for _, tmpl := range templates.List() {
		data, err := templates.Archive(tmpl.ID)
		require.NoError(t, err)
		var names []string
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			names = append(names, hdr.Name)
			require.False(t, strings.HasPrefix(hdr.Name, "/") || strings.Contains(hdr.Name, ".."), hdr.Name)
		}
		require.True(t, slices.Contains(names, "main.tf"), "%s: %v", tmpl.ID, names)
		require.True(t, slices.Contains(names, "README.md"), "%s: %v", tmpl.ID, names)
	}
	_, err := templates.Archive("nope")
	require.ErrorIs(t, err, templates.ErrUnknownTemplate)
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	require.NoError(t, err)
	return data
}

func TestMarkdown(t *testing.T) {
	t.Parallel()
	for _, tmpl := range templates.List() {
		md, err := templates.Markdown(tmpl.ID)
		require.NoError(t, err, tmpl.ID)
		require.NotContains(t, md, "display_name:", "%s: front matter left in", tmpl.ID)
		require.True(t, strings.HasPrefix(md, "# "), "%s: markdown starts %q", tmpl.ID, md[:min(len(md), 20)])
	}
	_, err := templates.Markdown("nope")
	require.ErrorIs(t, err, templates.ErrUnknownTemplate)
}
