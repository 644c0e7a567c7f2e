package terraform

import (
	"archive/tar"
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// Tests run the real Terraform found on PATH with the real coder provider,
// installed offline from the filesystem mirror that `make toolchain` builds
// into <repo>/.toolchain.

const testTimeout = 3 * time.Minute

func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// toolchainDir is <repo>/.toolchain.
func toolchainDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..", ".toolchain")
}

// toolchainConfig is the CLI config pointing at the repo's provider mirror.
func toolchainConfig(t testing.TB) string {
	t.Helper()
	cfg := filepath.Join(toolchainDir(t), "terraformrc")
	if _, err := os.Stat(cfg); err != nil {
		t.Fatalf("%s not found: run `make toolchain` first (it builds the coder provider into a local filesystem mirror)", cfg)
	}
	return cfg
}

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
		p := filepath.Join(toolchainDir(t), "bin", name)
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
		CLIConfigFile: toolchainConfig(t),
		Logger:        slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range opts {
		f(&o)
	}
	r, err := New(testContext(t), o)
	if err != nil {
		t.Fatalf("new runner: %v", err)
	}
	return r
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// tarOf archives files (name -> content) in name order.
func tarOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
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
