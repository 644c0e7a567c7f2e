package terraform

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// What a template sets that we do not act on is reported once each in the
// import log, whatever module sets it; what we read is not.
func TestImportReportsIgnoredAttributes(t *testing.T) {
	t.Parallel()
	agent := `
resource "coder_agent" "dev" {
  os                  = "linux"
  arch                = "amd64"
  troubleshooting_url = "https://example.com/help"
  resources_monitoring {
    memory {
      enabled   = true
      threshold = 80
    }
  }
}
`
	r := newTestRunner(t)
	logs := newLogRecorder(t)
	_, err := r.Import(testutil.Context(t, testutil.WaitLong), ImportRequest{
		Source: testutil.Tar(t, map[string]string{
			"main.tf":       providerBlock + agent + "\nmodule \"inner\" {\n  source = \"./inner\"\n}\n",
			"inner/main.tf": providerBlock + strings.ReplaceAll(agent, `"dev"`, `"inner"`),
		}),
		Logf: logs.Logf,
	})
	if err != nil {
		logs.dump()
		t.Fatalf("import: %v", err)
	}
	var warnings []string
	for _, l := range logs.all() {
		if l.Level == codersdk.ProvisionerLogLevelWarn && strings.HasPrefix(l.Output, "ignored: ") {
			warnings = append(warnings, l.Output)
		}
	}
	require.Equal(t, []string{"ignored: coder_agent.resources_monitoring (set by the template; this version of coder does not act on it)"}, warnings,
		"once, though two modules set it; troubleshooting_url is read, so not reported")
}
