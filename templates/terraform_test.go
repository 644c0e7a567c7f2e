package templates_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/templates"
)

// toolchain is the offline Terraform toolchain `make toolchain` builds in
// <repo>/.toolchain.
type toolchain struct {
	terraform string // .toolchain/bin/terraform
	config    string // .toolchain/terraformrc (TF_CLI_CONFIG_FILE)
	mirror    string // .toolchain/mirror
}

func requireToolchain(t testing.TB) toolchain {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := filepath.Join(root, ".toolchain")
	tc := toolchain{
		terraform: filepath.Join(dir, "bin", "terraform"),
		config:    filepath.Join(dir, "terraformrc"),
		mirror:    filepath.Join(dir, "mirror"),
	}
	for _, p := range []string{tc.terraform, tc.config, tc.mirror} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("offline Terraform toolchain missing (%v): run `make toolchain` at the repository root first", err)
		}
	}
	return tc
}

// inMirror reports whether the mirror holds the provider source ("ns/name").
func (tc toolchain) inMirror(source string) bool {
	_, err := os.Stat(filepath.Join(tc.mirror, "registry.terraform.io", source))
	return err == nil
}

// env is the process environment with every TF_ and CODER_ variable
// replaced by the toolchain's configuration and extra.
func (tc toolchain) env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TF_") || strings.HasPrefix(kv, "CODER_") || strings.HasPrefix(kv, "CHECKPOINT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"TF_CLI_CONFIG_FILE="+tc.config,
		"TF_IN_AUTOMATION=1",
		"TF_INPUT=0",
		"CHECKPOINT_DISABLE=1", // no version check against hashicorp.com
	)
	return append(env, extra...)
}

// run runs terraform in dir and fails the test with its output on error.
func (tc toolchain) run(ctx context.Context, t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := tc.try(ctx, dir, env, args...)
	require.NoError(t, err, "terraform %s:\n%s", strings.Join(args, " "), out)
	return out
}

func (tc toolchain) try(ctx context.Context, dir string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, tc.terraform, append(args, "-no-color")...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var sourceRE = regexp.MustCompile(`(?m)^\s*source\s*=\s*"([^"/]+/[^"/]+)"`)

// TestTerraformValidate checks every template with the Terraform of the
// offline toolchain: fmt for all, and init + validate against the
// filesystem mirror for those whose providers it holds. Init fails when a
// template's version constraints do not accept the mirrored versions.
func TestTerraformValidate(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	validated := map[string]bool{}
	for _, tmpl := range templates.List() {
		dir := t.TempDir()
		require.NoError(t, templates.Write(tmpl.ID, dir))
		main := string(readFile(t, filepath.Join(dir, "main.tf")))
		var missing []string
		for _, m := range sourceRE.FindAllStringSubmatch(main, -1) {
			if !tc.inMirror(m[1]) {
				missing = append(missing, m[1])
			}
		}
		validated[tmpl.ID] = len(missing) == 0
		t.Run(tmpl.ID, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			env := tc.env()
			tc.run(ctx, t, dir, env, "fmt", "-check", "-diff", "-recursive")
			if len(missing) > 0 {
				t.Logf("providers %v are not in the offline mirror: checked fmt only", missing)
				return
			}
			tc.run(ctx, t, dir, env, "init", "-input=false", "-backend=false")
			tc.run(ctx, t, dir, env, "validate")
		})
	}
	// make toolchain always mirrors the docker template's providers.
	require.True(t, validated["docker"], "the docker template's providers are missing from %s: run `make toolchain`", tc.mirror)
}

// BenchmarkTerraformInitFromMirror measures `terraform init` of the docker
// template with providers from the offline mirror (docs/toolchain.md quotes
// it).
func BenchmarkTerraformInitFromMirror(b *testing.B) {
	tc := requireToolchain(b)
	dir := b.TempDir()
	require.NoError(b, templates.Write("docker", dir))
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	env := tc.env()
	start := time.Now()
	n := 0
	for b.Loop() {
		require.NoError(b, os.RemoveAll(filepath.Join(dir, ".terraform")))
		require.NoError(b, os.RemoveAll(filepath.Join(dir, ".terraform.lock.hcl")))
		if out, err := tc.try(ctx, dir, env, "init", "-input=false", "-backend=false"); err != nil {
			b.Fatalf("terraform init: %v\n%s", err, out)
		}
		n++
	}
	b.ReportMetric(time.Since(start).Seconds()/float64(n), "s/init")
}
