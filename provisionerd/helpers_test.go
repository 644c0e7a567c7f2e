package provisionerd

import (
	"archive/tar"
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd/terraform"
)

const testTimeout = 3 * time.Minute

// testContext ends with the test or after testTimeout.
func testContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// toolchainConfig is the Terraform CLI config that installs the coder
// provider from the repository's filesystem mirror (`make toolchain`).
func toolchainConfig(t testing.TB) string {
	t.Helper()
	cfg, err := filepath.Abs(filepath.Join("..", ".toolchain", "terraformrc"))
	require.NoError(t, err)
	if _, err := os.Stat(cfg); err != nil {
		t.Fatalf("%s not found: run `make toolchain` first (it builds the coder provider into a local filesystem mirror)", cfg)
	}
	return cfg
}

// emptyConfig is a CLI config for templates that use only Terraform's
// built-in provider: it keeps the host's TF_CLI_CONFIG_FILE out.
func emptyConfig(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "terraformrc")
	require.NoError(t, os.WriteFile(p, nil, 0o600))
	return p
}

func newTestTerraformRunner(t testing.TB, cliConfig string) *TerraformRunner {
	t.Helper()
	r, err := NewTerraformRunner(testContext(t), terraform.Options{
		CacheDir:       t.TempDir(),
		CLIConfigFile:  cliConfig,
		InterruptGrace: time.Minute,
		Logger:         testLogger(t),
	})
	require.NoError(t, err)
	return r
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(files[n]))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// logSink collects a job's log lines.
type logSink struct {
	mu   sync.Mutex
	logs []codersdk.ProvisionerLog
}

func (s *logSink) logf(l codersdk.ProvisionerLog) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, l)
}

func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, l := range s.logs {
		b.WriteString(string(l.Level) + " [" + l.Stage + "] " + l.Output + "\n")
	}
	return b.String()
}

const coderProvider = `
terraform {
  required_providers {
    coder = {
      source = "coder/coder"
    }
  }
}
`
