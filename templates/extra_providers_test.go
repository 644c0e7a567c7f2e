package templates_test

import (
	"archive/zip"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestExtraProviders runs `scripts/toolchain.sh` with EXTRA_PROVIDERS on a
// copy of the toolchain (hard links, so nothing is rebuilt) and checks that
// Terraform then installs each kind of provider it accepts: a zip at the top
// (namespace hashicorp), a zip in a namespace directory, and an unpacked
// binary in mirror layout. The providers are the mirror's time provider
// under other names.
func TestExtraProviders(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	require.True(t, tc.inMirror("hashicorp/time"), "run `make toolchain` (without TOOLCHAIN_SKIP_UTILITY)")
	timeBins, err := filepath.Glob(filepath.Join(tc.mirror, "registry.terraform.io", "hashicorp", "time", "*", "*", "terraform-provider-time_*"))
	require.NoError(t, err)
	require.NotEmpty(t, timeBins)
	platform := filepath.Base(filepath.Dir(timeBins[0]))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	extra := t.TempDir()
	zipProvider(t, filepath.Join(extra, "terraform-provider-clock_0.1.0_"+platform+".zip"), "terraform-provider-clock_v0.1.0", timeBins[0])
	zipProvider(t, filepath.Join(extra, "acme", "terraform-provider-sundial_2.0.0_"+platform+".zip"), "terraform-provider-sundial_v2.0.0", timeBins[0])
	unpacked := filepath.Join(extra, "registry.terraform.io", "acme", "stopwatch", "1.0.0", platform, "terraform-provider-stopwatch_v1.0.0")
	require.NoError(t, os.MkdirAll(filepath.Dir(unpacked), 0o755))
	require.NoError(t, os.Link(timeBins[0], unpacked))

	// A toolchain whose stamps say everything is built: the script only
	// merges and writes the config.
	root := filepath.Dir(filepath.Dir(tc.terraform))
	copyDir := filepath.Join(t.TempDir(), "toolchain")
	require.NoError(t, os.MkdirAll(copyDir, 0o755))
	for _, sub := range []string{"bin", "stamps", "mirror", "terraform"} {
		if _, err := os.Stat(filepath.Join(root, sub)); err != nil {
			continue
		}
		out, err := exec.CommandContext(ctx, "cp", "-a", "-l", filepath.Join(root, sub), copyDir).CombinedOutput()
		require.NoError(t, err, "cp -al %s: %s", sub, out)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(filepath.Dir(root), "scripts", "toolchain.sh"))
	cmd.Env = append(os.Environ(), "TOOLCHAIN_DIR="+copyDir, "EXTRA_PROVIDERS="+extra)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "toolchain.sh: %s", out)
	require.Contains(t, string(out), "merged 3 provider file(s)")
	require.NotContains(t, string(out), "building", "a warm toolchain rebuilt something")

	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.tf"), `terraform {
  required_providers {
    clock = {
      source  = "hashicorp/clock"
      version = "0.1.0"
    }
    sundial = {
      source  = "acme/sundial"
      version = "2.0.0"
    }
    stopwatch = {
      source  = "acme/stopwatch"
      version = "1.0.0"
    }
  }
}

resource "time_static" "clock" {
  provider = clock
}

resource "time_static" "sundial" {
  provider = sundial
}

resource "time_static" "stopwatch" {
  provider = stopwatch
}
`)
	copied := tc
	copied.config = filepath.Join(copyDir, "terraformrc")
	env := copied.env()
	copied.run(ctx, t, dir, env, "init", "-input=false")
	copied.run(ctx, t, dir, env, "validate")
	copied.run(ctx, t, dir, env, "apply", "-input=false", "-auto-approve")
}

// zipProvider writes a provider zip holding bin under the name inside.
func zipProvider(t *testing.T, name, inside, bin string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
	f, err := os.Create(name)
	require.NoError(t, err)
	defer f.Close()
	zw := zip.NewWriter(f)
	h := &zip.FileHeader{Name: inside, Method: zip.Deflate}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	require.NoError(t, err)
	src, err := os.Open(bin)
	require.NoError(t, err)
	defer src.Close()
	_, err = io.Copy(w, src)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}
