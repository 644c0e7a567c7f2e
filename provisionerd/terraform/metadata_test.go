package terraform

import (
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestAgentMetadataValidation: invalid coder_agent metadata blocks fail the
// conversion with every problem named; valid ones (interval 0 included,
// the incumbent's "run once") are carried as they are.
func TestAgentMetadataValidation(t *testing.T) {
	t.Parallel()
	agent := func(md ...map[string]any) []tfResource {
		list := make([]any, len(md))
		for i, m := range md {
			list[i] = m
		}
		return []tfResource{{Address: "coder_agent.dev", ConfigAddr: "coder_agent.dev", Mode: tfjson.ManagedResourceMode,
			Type: "coder_agent", Name: "dev", Attrs: map[string]any{"id": "a", "token": "t", "metadata": list}}}
	}
	item := func(key string, interval, timeout int) map[string]any {
		return map[string]any{"key": key, "display_name": strings.ToUpper(key), "script": "echo " + key, "interval": interval, "timeout": timeout}
	}
	for _, tc := range []struct {
		name string
		all  []tfResource
		want []string // substrings of the error; none means valid
	}{
		{"valid", agent(item("cpu", 10, 1), item("once", 0, 0)), nil},
		{"empty key", agent(item("", 10, 1)), []string{`agent "dev"`, "metadata[0]: key is empty"}},
		{"duplicate key", agent(item("cpu", 10, 1), item("cpu", 5, 1)), []string{`metadata[1] (key "cpu"): duplicate key, also used by metadata[0]`}},
		{"negative", agent(item("cpu", -1, -2)), []string{"interval -1 is negative", "timeout -2 is negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := convertResources(tc.all, deps{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				got := res[0].Agents[0].Metadata
				want := []codersdk.ProvisionerAgentMetadata{
					{Key: "cpu", DisplayName: "CPU", Script: "echo cpu", Interval: 10, Timeout: 1},
					{Key: "once", DisplayName: "ONCE", Script: "echo once"},
				}
				assertJSONEqual(t, "metadata", want, got)
				return
			}
			if err == nil {
				t.Fatalf("converted invalid metadata: %+v", res)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestImportAgentMetadataInvalid runs real Terraform: a template whose
// agent has a metadata block with an empty key and a negative interval
// (which the provider accepts) fails the import, and the job log says why.
func TestImportAgentMetadataInvalid(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	logs := newLogRecorder(t)
	tmpl := providerBlock + workspaceData + `
resource "coder_agent" "dev" {
  count = data.coder_workspace.me.start_count
  os    = "linux"
  arch  = "amd64"
  metadata {
    key          = ""
    display_name = "Nothing"
    script       = "echo"
    interval     = -5
  }
}
`
	_, err := r.Import(testutil.Context(t, testutil.WaitLong), ImportRequest{
		Source:   testutil.Tar(t, map[string]string{"main.tf": tmpl}),
		Metadata: Metadata{AccessURL: "https://coder.test/"},
		Logf:     logs.Logf,
	})
	if err == nil {
		t.Fatal("import accepted an empty metadata key")
	}
	for _, w := range []string{`agent "dev"`, "metadata[0]: key is empty", "interval -5 is negative"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("import error %q lacks %q", err, w)
		}
	}
}
