package terraform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hashicorp/go-version"
	install "github.com/hashicorp/hc-install"
	"github.com/hashicorp/hc-install/fs"
	"github.com/hashicorp/hc-install/product"
	"github.com/hashicorp/hc-install/releases"
	"github.com/hashicorp/hc-install/src"
	"github.com/hashicorp/terraform-exec/tfexec"
)

// findTerraform picks the binary: Options.TerraformPath if set (it must
// work), else terraform then tofu on PATH, else a download into CacheDir/bin
// when InstallOnline is set. Every candidate must report version >= 1.1.0.
func (r *Runner) findTerraform(ctx context.Context, opts Options) (string, *version.Version, error) {
	if opts.TerraformPath != "" {
		path, err := exec.LookPath(opts.TerraformPath)
		if err != nil {
			return "", nil, fmt.Errorf("%w: --terraform-path %q: %w", ErrTerraformNotFound, opts.TerraformPath, err)
		}
		path, _ = filepath.Abs(path)
		v, err := r.checkVersion(ctx, path)
		if err != nil {
			return "", nil, fmt.Errorf("--terraform-path %q: %w", opts.TerraformPath, err)
		}
		return path, v, nil
	}

	pathEnv := r.baseEnv["PATH"]
	for _, name := range []string{"terraform", "tofu"} {
		path, err := lookPathIn(name, pathEnv)
		if err != nil {
			continue
		}
		v, err := r.checkVersion(ctx, path)
		if err != nil {
			r.logger.Warn("ignoring unusable binary on PATH", slog.String("path", path), slog.Any("error", err))
			continue
		}
		return path, v, nil
	}

	if !opts.InstallOnline {
		return "", nil, fmt.Errorf("%w: install Terraform >= %s (or OpenTofu) on PATH, pass --terraform-path, "+
			"or run `make toolchain` to build one from source; automatic download is disabled", ErrTerraformNotFound, minTerraformVersion)
	}
	path, err := r.installTerraform(ctx, opts.InstallVersion)
	if err != nil {
		return "", nil, fmt.Errorf("%w: download failed (%w); install Terraform on PATH, pass --terraform-path, "+
			"or run `make toolchain`", ErrTerraformNotFound, err)
	}
	v, err := r.checkVersion(ctx, path)
	if err != nil {
		return "", nil, fmt.Errorf("downloaded terraform: %w", err)
	}
	return path, v, nil
}

// checkVersion runs `version -json` through terraform-exec and enforces the
// minimum version.
func (r *Runner) checkVersion(ctx context.Context, path string) (*version.Version, error) {
	tf, err := tfexec.NewTerraform(r.cacheDir, path)
	if err != nil {
		return nil, fmt.Errorf("check version: %w", err)
	}
	env := make(map[string]string, len(r.baseEnv)+1)
	for k, v := range r.baseEnv {
		env[k] = v
	}
	env["CHECKPOINT_DISABLE"] = "1"
	if err := tf.SetEnv(env); err != nil {
		return nil, fmt.Errorf("check version: %w", err)
	}
	v, _, err := tf.Version(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("check version: %w", err)
	}
	if v.LessThan(minTerraformVersion) {
		return nil, fmt.Errorf("version %s is older than the minimum %s", v, minTerraformVersion)
	}
	return v, nil
}

// installTerraform reuses or downloads the pinned version into CacheDir/bin,
// under a file lock so concurrent daemons download it once.
func (r *Runner) installTerraform(ctx context.Context, want string) (string, error) {
	if want == "" {
		want = DefaultTerraformVersion
	}
	v, err := version.NewVersion(want)
	if err != nil {
		return "", fmt.Errorf("install version %q: %w", want, err)
	}
	binDir := filepath.Join(r.cacheDir, "bin", v.String())
	if err := os.MkdirAll(binDir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", binDir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(r.cacheDir, "install.lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	// A previous download is found by ExactBinPath; otherwise install.
	sources := []src.Source{
		&fs.AnyVersion{ExactBinPath: filepath.Join(binDir, product.Terraform.BinaryName())},
		&releases.ExactVersion{Product: product.Terraform, Version: v, InstallDir: binDir},
	}
	r.logger.Info("installing terraform", slog.String("version", v.String()), slog.String("dir", binDir))
	path, err := install.NewInstaller().Ensure(ctx, sources)
	if err != nil {
		return "", fmt.Errorf("install terraform %s: %w", v, err)
	}
	return path, nil
}

// lookPathIn is exec.LookPath against the allow-listed PATH, so the binary
// found is the one Terraform's own environment would find.
func lookPathIn(name, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		candidate := filepath.Join(dir, name)
		st, err := os.Stat(candidate)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			continue
		}
		return candidate, nil
	}
	return "", errors.New(name + " not found on PATH")
}
