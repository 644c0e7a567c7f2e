package templates_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// greetModule is the module both sources serve: terraform_data is built
// in, so only the module source is under test.
const greetModule = `variable "name" {
  type = string
}

resource "terraform_data" "greeting" {
  input = "hello ${var.name} from %s"
}

output "greeting" {
  value = terraform_data.greeting.output
}
`

// TestTerraformModulesOffline checks the two module sources that work
// without a registry (docs/toolchain.md, "Modules"): a local path and a git
// repository reached by file://, here a bare repository at tag v1 whose
// module sits in a subdirectory. init, apply and output run for real.
func TestTerraformModulesOffline(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatalf("git is needed for git module sources: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// A bare repository whose tag v1 holds mod/, and a later commit on
	// the branch that must not be what ?ref=v1 fetches.
	work, bare := t.TempDir(), filepath.Join(t.TempDir(), "modules.git")
	write(t, filepath.Join(work, "mod", "main.tf"), strings.Replace(greetModule, "%s", "git v1", 1))
	git(ctx, t, work, "init", "-q", "-b", "main")
	git(ctx, t, work, "add", ".")
	git(ctx, t, work, "commit", "-q", "-m", "v1")
	git(ctx, t, work, "tag", "v1")
	write(t, filepath.Join(work, "mod", "main.tf"), strings.Replace(greetModule, "%s", "git main", 1))
	git(ctx, t, work, "commit", "-q", "-am", "after v1")
	git(ctx, t, "", "clone", "-q", "--bare", work, bare)

	root := t.TempDir()
	write(t, filepath.Join(root, "modules", "x", "main.tf"), strings.Replace(greetModule, "%s", "a path", 1))
	write(t, filepath.Join(root, "main.tf"), `module "local" {
  source = "./modules/x"
  name   = "local"
}

module "git" {
  source = "git::file://`+filepath.ToSlash(bare)+`//mod?ref=v1"
  name   = "git"
}

output "local" {
  value = module.local.greeting
}

output "git" {
  value = module.git.greeting
}
`)
	env := tc.env("GIT_TERMINAL_PROMPT=0")
	tc.run(ctx, t, root, env, "init", "-input=false")
	tc.run(ctx, t, root, env, "validate")
	tc.run(ctx, t, root, env, "apply", "-input=false", "-auto-approve")
	var out map[string]struct{ Value string }
	require.NoError(t, json.Unmarshal([]byte(tc.run(ctx, t, root, env, "output", "-json")), &out))
	require.Equal(t, "hello local from a path", out["local"].Value)
	require.Equal(t, "hello git from git v1", out["git"].Value, "?ref=v1 fetched the tag, not the branch head")
}

func write(t *testing.T, name, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
	require.NoError(t, os.WriteFile(name, []byte(content), 0o600))
}

// git runs git in dir (the current directory when empty) with a fixed
// identity and no user or system configuration.
func git(ctx context.Context, t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s:\n%s", strings.Join(args, " "), out)
}
