package provisionerd

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd/terraform"
	"github.com/opencoder/coder/testutil"
)

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
	r, err := NewTerraformRunner(testutil.Context(t, testutil.WaitLong), terraform.Options{
		CacheDir:       t.TempDir(),
		CLIConfigFile:  cliConfig,
		InterruptGrace: time.Minute,
		Logger:         testutil.Logger(t),
	})
	require.NoError(t, err)
	return r
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
