package templates_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/templates"
)

// TestWriteArchive: what stays out of an upload, and headers that carry
// neither time nor owner, with owner write added to read-only sources.
func TestWriteArchive(t *testing.T) {
	t.Parallel()
	mtime := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	fsys := fstest.MapFS{
		"main.tf":                    {Data: []byte("resource {}"), Mode: 0o444, ModTime: mtime},
		"scripts":                    {Mode: fs.ModeDir | 0o555},
		"scripts/run.sh":             {Data: []byte("#!/bin/sh"), Mode: 0o555},
		"terraform.tfstate":          {Data: []byte("secret")},
		"sub/terraform.tfstate.bak":  {Data: []byte("secret")},
		".terraform/providers/x":     {Data: []byte("binary")},
		"mod/.terraform/modules/y":   {Data: []byte("cache")},
		".git/config":                {Data: []byte("git")},
		"fifo":                       {Mode: fs.ModeNamedPipe | 0o644},
		"sock":                       {Mode: fs.ModeSocket | 0o644},
		".terraform.lock.hcl":        {Data: []byte("lock"), Mode: 0o644},
		"sub/.terraformrc-not-a-dir": {Data: []byte("kept"), Mode: 0o600},
	}
	var buf bytes.Buffer
	require.NoError(t, templates.WriteArchive(&buf, fsys))

	type entry struct {
		typ  byte
		mode int64
		data string
	}
	got := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		require.True(t, h.ModTime.Equal(time.Unix(0, 0)), "%s: no timestamp, got %v", h.Name, h.ModTime)
		require.Zero(t, h.Uid, h.Name)
		require.Empty(t, h.Uname, h.Name)
		got[h.Name] = entry{h.Typeflag, h.Mode, string(data)}
		names = append(names, h.Name)
	}
	require.Equal(t, map[string]entry{
		".terraform.lock.hcl":        {tar.TypeReg, 0o644, "lock"},
		"main.tf":                    {tar.TypeReg, 0o644, "resource {}"},
		"mod/":                       {tar.TypeDir, 0o755, ""},
		"scripts/":                   {tar.TypeDir, 0o755, ""},
		"scripts/run.sh":             {tar.TypeReg, 0o755, "#!/bin/sh"},
		"sub/":                       {tar.TypeDir, 0o755, ""},
		"sub/.terraformrc-not-a-dir": {tar.TypeReg, 0o600, "kept"},
	}, got)
	require.IsIncreasing(t, names, "lexical order")

	// Same content, other times: the same bytes.
	fsys["main.tf"].ModTime = mtime.Add(time.Hour)
	var again bytes.Buffer
	require.NoError(t, templates.WriteArchive(&again, fsys))
	require.Equal(t, buf.Bytes(), again.Bytes())
}
