package terraform

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// Tests run the real Terraform found on PATH with the real coder provider,
// installed offline from the filesystem mirror that `make toolchain` builds
// into <repo>/.toolchain.

// testTerraformPath is "" (let New search PATH) when terraform or tofu is
// on PATH, else a binary `make toolchain` built into .toolchain/bin.
func testTerraformPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"terraform", "tofu"} {
		if _, err := exec.LookPath(name); err == nil {
			return ""
		}
	}
	for _, name := range []string{"terraform", "tofu"} {
		p := filepath.Join(testutil.ToolchainDir(t), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatal("no terraform or tofu on PATH or in .toolchain/bin: run `make toolchain`")
	return ""
}

type runnerOption func(*Options)

func newTestRunner(t testing.TB, opts ...runnerOption) *Runner {
	t.Helper()
	o := Options{
		CacheDir:      t.TempDir(),
		TerraformPath: testTerraformPath(t),
		CLIConfigFile: testutil.ToolchainConfig(t),
		Logger:        testutil.Logger(t),
	}
	for _, f := range opts {
		f(&o)
	}
	r, err := New(testutil.Context(t, testutil.WaitLong), o)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	return r
}

// logRecorder collects job logs; Logf may be called from any goroutine.
type logRecorder struct {
	t    testing.TB
	mu   sync.Mutex
	logs []codersdk.ProvisionerLog
}

func newLogRecorder(t testing.TB) *logRecorder { return &logRecorder{t: t} }

func (l *logRecorder) Logf(log codersdk.ProvisionerLog) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs = append(l.logs, log)
}

func (l *logRecorder) all() []codersdk.ProvisionerLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]codersdk.ProvisionerLog(nil), l.logs...)
}

func (l *logRecorder) text() string {
	var b strings.Builder
	for _, log := range l.all() {
		b.WriteString(string(log.Level) + " [" + log.Stage + "] " + log.Output + "\n")
	}
	return b.String()
}

func (l *logRecorder) dump() {
	l.t.Helper()
	l.t.Log("job logs:\n" + l.text())
}

const providerBlock = `
terraform {
  required_providers {
    coder = {
      source = "coder/coder"
    }
  }
}
`

// assertWorkDirClean checks that no job directory was left behind. The coder
// provider itself keeps a pprof socket in ../.coder of its working
// directory (terraform-provider-coder pprof_unix.go); that one is expected.
func assertWorkDirClean(t testing.TB, r *Runner) {
	t.Helper()
	entries, err := os.ReadDir(r.workDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".coder" {
			t.Errorf("work dir not cleaned: %s left", e.Name())
		}
	}
}

// workspaceData are the data sources the templates here read.
const workspaceData = `
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}
`

// mainAgent is the templates' coder_agent "main": one per started
// workspace.
const mainAgent = `
resource "coder_agent" "main" {
  count          = data.coder_workspace.me.start_count
  os             = "linux"
  arch           = "amd64"
  startup_script = "echo hi"
}
`
