package terraform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
)

// DefaultInterruptGrace is how long Terraform may take to stop after the
// interrupt that a canceled job sends it. Coder gives it 3 minutes too: on
// interrupt Terraform waits for the resource operations already in flight
// (a VM being created, an image being pulled) and then writes the state. Kill
// it earlier and those resources exist in the cloud but not in the state,
// leaking them and breaking the next build. A daemon that must stop sooner
// (a pod's termination grace) sets Options.InterruptGrace.
const DefaultInterruptGrace = 3 * time.Minute

// DefaultTerraformVersion is the version hc-install downloads when no binary
// is found and Options.InstallOnline is set.
const DefaultTerraformVersion = "1.11.4"

// minTerraformVersion is the oldest Terraform this package drives: 1.1 fixed
// the hang after an interrupt that older versions have, and added the JSON
// output used for logs.
var minTerraformVersion = version.Must(version.NewVersion("1.1.0"))

// ErrTerraformNotFound is returned by New when no usable Terraform binary was
// found and none could be installed.
var ErrTerraformNotFound = errors.New("terraform not found")

// Options configures a Runner. Zero values get the defaults documented on
// each field.
type Options struct {
	// TerraformPath is the Terraform (or OpenTofu) binary to use. When
	// empty, "terraform" then "tofu" are looked up on PATH, then, if
	// InstallOnline is set, Terraform is downloaded into CacheDir.
	TerraformPath string
	// InstallOnline allows downloading Terraform with hc-install
	// (releases.hashicorp.com) when no binary is found.
	InstallOnline bool
	// InstallVersion is the version to download; DefaultTerraformVersion if
	// empty.
	InstallVersion string
	// CacheDir holds state shared by every job of every daemon using it:
	// the provider plugin cache (CacheDir/plugins, given to Terraform as
	// TF_PLUGIN_CACHE_DIR), downloaded Terraform binaries and the generated
	// CLI config. Required; created if missing.
	CacheDir string
	// WorkDir is the parent of the per-job directories; CacheDir/work if
	// empty.
	WorkDir string
	// CLIConfigFile is passed to Terraform as TF_CLI_CONFIG_FILE. When
	// empty, ProviderMirror decides; when both are empty, the daemon's own
	// TF_CLI_CONFIG_FILE (if any) is passed through.
	CLIConfigFile string
	// ProviderMirror is a directory laid out as a Terraform filesystem
	// mirror (HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/binary). When set and
	// CLIConfigFile is empty, New writes a CLI config that installs
	// providers from it only (air-gapped sites) into CacheDir.
	ProviderMirror string
	// InterruptGrace is how long Terraform may take to exit after the
	// interrupt a canceled job sends it; DefaultInterruptGrace if zero.
	InterruptGrace time.Duration
	// PassEnv names extra variables of the daemon's environment to give to
	// Terraform, on top of the built-in allow-list (see env.go). An entry
	// ending in "_" or "*" is a prefix. CODER_* variables are never passed,
	// nor the TF_* variables terraform-exec manages (TF_LOG, TF_VAR_*, ...):
	// template variables go in the requests' Variables.
	PassEnv []string
	// Environ is the daemon environment the allow-list picks from;
	// os.Environ() if nil.
	Environ []string
	// Logger receives the runner's own diagnostics (not the job logs, which
	// go to each request's Logf). Discarded if nil.
	Logger *slog.Logger
}

// Runner runs Terraform jobs. It is safe for concurrent use; every field is
// set by New and read-only afterwards.
type Runner struct {
	execPath       string
	version        *version.Version
	cacheDir       string
	pluginDir      string
	workDir        string
	cliConfigFile  string // "" means: do not set TF_CLI_CONFIG_FILE
	interruptGrace time.Duration
	baseEnv        map[string]string // allow-listed host env, see env.go
	logger         *slog.Logger
}

// New checks the options, prepares the cache and work directories, and finds
// (or installs) a Terraform binary of at least version 1.1.0.
func New(ctx context.Context, opts Options) (*Runner, error) {
	if opts.CacheDir == "" {
		return nil, errors.New("new terraform runner: CacheDir is required")
	}
	cacheDir, err := filepath.Abs(opts.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("new terraform runner: cache dir: %w", err)
	}
	r := &Runner{
		cacheDir:       cacheDir,
		pluginDir:      filepath.Join(cacheDir, "plugins"),
		workDir:        opts.WorkDir,
		interruptGrace: opts.InterruptGrace,
		logger:         opts.Logger,
	}
	if r.logger == nil {
		r.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.workDir == "" {
		r.workDir = filepath.Join(cacheDir, "work")
	}
	if r.workDir, err = filepath.Abs(r.workDir); err != nil {
		return nil, fmt.Errorf("new terraform runner: work dir: %w", err)
	}
	if r.interruptGrace <= 0 {
		r.interruptGrace = DefaultInterruptGrace
	}
	for _, dir := range []string{cacheDir, r.pluginDir, r.workDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("new terraform runner: create %s: %w", dir, err)
		}
	}

	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	r.baseEnv = hostEnv(environ, opts.PassEnv)

	switch {
	case opts.CLIConfigFile != "":
		if _, err := os.Stat(opts.CLIConfigFile); err != nil {
			return nil, fmt.Errorf("new terraform runner: cli config file: %w", err)
		}
		r.cliConfigFile, _ = filepath.Abs(opts.CLIConfigFile)
	case opts.ProviderMirror != "":
		r.cliConfigFile, err = writeMirrorConfig(cacheDir, opts.ProviderMirror)
		if err != nil {
			return nil, fmt.Errorf("new terraform runner: %w", err)
		}
	default:
		r.cliConfigFile = envValue(environ, "TF_CLI_CONFIG_FILE")
	}

	r.execPath, r.version, err = r.findTerraform(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("new terraform runner: %w", err)
	}
	r.logger.Info("terraform runner ready",
		slog.String("terraform", r.execPath),
		slog.String("version", r.version.String()),
		slog.String("cache_dir", cacheDir),
		slog.String("cli_config", r.cliConfigFile))
	return r, nil
}

// TerraformPath is the binary the runner uses.
func (r *Runner) TerraformPath() string { return r.execPath }

// TerraformVersion is the version of that binary.
func (r *Runner) TerraformVersion() string { return r.version.String() }

// writeMirrorConfig writes a CLI config that installs every provider from
// the filesystem mirror at dir, and returns its path.
func writeMirrorConfig(cacheDir, dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("provider mirror: %w", err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return "", fmt.Errorf("provider mirror %s is not a directory", abs)
	}
	// An HCL string literal: Go quoting, plus "${" and "%{" escaped so the
	// path is never read as a template.
	quoted := strconv.Quote(abs)
	quoted = strings.ReplaceAll(quoted, "${", "$${")
	quoted = strings.ReplaceAll(quoted, "%{", "%%{")
	content := "# Written by the provisioner daemon: install providers from the\n" +
		"# filesystem mirror only.\n" +
		"provider_installation {\n  filesystem_mirror {\n    path = " + quoted + "\n  }\n}\n"
	path := filepath.Join(cacheDir, "terraformrc")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return "", fmt.Errorf("write cli config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write cli config: %w", err)
	}
	return path, nil
}
