package terraform

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencoder/coder/testutil"
)

const benchTemplate = providerBlock + workspaceData + `
data "coder_parameter" "size" {
  name    = "size"
  type    = "number"
  default = "1"
}

` + mainAgent + `
resource "coder_app" "code" {
  count    = data.coder_workspace.me.start_count
  agent_id = coder_agent.main[0].id
  slug     = "code"
  url      = "http://localhost:8080"
}

resource "terraform_data" "box" {
  count = data.coder_workspace.me.start_count
  input = [coder_agent.main[0].init_script, coder_agent.main[0].token, data.coder_parameter.size.value]
}

resource "terraform_data" "home" {
  input = "home-${data.coder_workspace_owner.me.name}"
}
`

// BenchmarkBuild measures a start build of a new workspace through the
// runner (extract, init, plan, apply, show, state read, conversion) against
// bare Terraform on the same template, environment and plugin cache, in the
// same run:
//
//   - build-ms: Runner.Build (also ns/op);
//   - bare-apply-ms: `terraform apply -auto-approve` in an initialised
//     directory, from an empty state;
//   - bare-init+apply-ms: `terraform init` then `apply` in a fresh directory,
//     which is the work a build cannot skip;
//
// and the ratios of the first to the other two.
func BenchmarkBuild(b *testing.B) {
	r := newTestRunner(b)
	ctx := testutil.Context(b, testutil.WaitLong)
	source := testutil.Tar(b, map[string]string{"main.tf": benchTemplate})
	meta := testMetadata(TransitionStart)

	envMap, err := r.jobEnv(meta, TransitionStart, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	env := []string{"TF_IN_AUTOMATION=1"}
	for k, v := range envMap {
		env = append(env, k+"="+v)
	}
	terraform := func(dir string, args ...string) {
		cmd := exec.CommandContext(ctx, r.execPath, args...)
		cmd.Dir = dir
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("terraform %v: %v\n%s", args, err, out)
		}
	}
	newDir := func() string {
		dir, err := os.MkdirTemp(b.TempDir(), "bare-")
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(benchTemplate), 0o600); err != nil {
			b.Fatal(err)
		}
		return dir
	}
	warm := newDir()
	terraform(warm, "init", "-input=false")
	// One build to warm the plugin cache, as on a running daemon.
	if _, err := r.Build(ctx, BuildRequest{Source: source, Metadata: meta}); err != nil {
		b.Fatal(err)
	}

	var build, apply, initApply time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res, err := r.Build(ctx, BuildRequest{Source: source, Metadata: meta})
		if err != nil {
			b.Fatal(err)
		}
		build += time.Since(start)
		if len(res.Resources) != 2 {
			b.Fatalf("resources: %+v", res.Resources)
		}

		b.StopTimer()
		_ = os.Remove(filepath.Join(warm, "terraform.tfstate"))
		start = time.Now()
		terraform(warm, "apply", "-auto-approve", "-input=false")
		apply += time.Since(start)

		fresh := newDir()
		start = time.Now()
		terraform(fresh, "init", "-input=false")
		terraform(fresh, "apply", "-auto-approve", "-input=false")
		initApply += time.Since(start)
		_ = os.RemoveAll(fresh)
		b.StartTimer()
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / n }
	b.ReportMetric(ms(build), "build-ms")
	b.ReportMetric(ms(apply), "bare-apply-ms")
	b.ReportMetric(ms(initApply), "bare-init+apply-ms")
	b.ReportMetric(float64(build)/float64(apply), "build/bare-apply")
	b.ReportMetric(float64(build)/float64(initApply), "build/bare-init+apply")
}
