package terraform

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

const presetsTemplate = providerBlock + `
data "coder_parameter" "region" {
  name    = "region"
  default = "eu"
  option {
    name  = "EU"
    value = "eu"
  }
  option {
    name  = "US"
    value = "us"
  }
}

data "coder_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = 2
  mutable = true
  validation {
    min = 1
    max = 8
  }
}

data "coder_workspace_preset" "small" {
  name    = "Small"
  default = true
  parameters = {
    (data.coder_parameter.cpus.name) = "1"
  }
}

data "coder_workspace_preset" "us_big" {
  name        = "US, big"
  description = "Eight cores in the US"
  icon        = "/emojis/1f1fa-1f1f8.png"
  parameters = {
    region = "us"
    cpus   = "8"
  }
}
`

// A real import (terraform init + plan with the coder provider) reads the
// presets with every attribute.
func TestImportPresets(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	logs := newLogRecorder(t)
	res, err := r.Import(testutil.Context(t, testutil.WaitLong), ImportRequest{Source: testutil.Tar(t, map[string]string{"main.tf": presetsTemplate}), Logf: logs.Logf})
	if err != nil {
		logs.dump()
		t.Fatalf("import: %v", err)
	}
	require.ElementsMatch(t, []codersdk.Preset{
		{Name: "Small", Default: true, Parameters: []codersdk.PresetParameter{{Name: "cpus", Value: "1"}}},
		{Name: "US, big", Description: "Eight cores in the US", Icon: "/emojis/1f1fa-1f1f8.png", Parameters: []codersdk.PresetParameter{{Name: "cpus", Value: "8"}, {Name: "region", Value: "us"}}},
	}, res.Presets)
}

// Broken presets fail the import with the reason, not the user's build.
func TestConvertPresetsErrors(t *testing.T) {
	t.Parallel()
	params := []codersdk.TemplateVersionParameter{
		{Name: "region", Type: "string", Options: []codersdk.TemplateVersionParameterOption{{Name: "EU", Value: "eu"}}},
		{Name: "cpus", Type: "number"},
	}
	preset := func(addr string, attrs map[string]any) tfResource {
		return tfResource{Address: addr, Mode: "data", Type: "coder_workspace_preset", Attrs: attrs}
	}
	for _, tc := range []struct {
		name string
		res  []tfResource
		want string
	}{
		{"unknown parameter", []tfResource{preset("data.coder_workspace_preset.a", map[string]any{"name": "A", "parameters": map[string]any{"zone": "x"}})}, `sets parameter "zone", which no coder_parameter declares`},
		{"invalid value", []tfResource{preset("data.coder_workspace_preset.a", map[string]any{"name": "A", "parameters": map[string]any{"region": "mars"}})}, `parameter "region"`},
		{"not a number", []tfResource{preset("data.coder_workspace_preset.a", map[string]any{"name": "A", "parameters": map[string]any{"cpus": "many"}})}, `parameter "cpus"`},
		{"duplicate name", []tfResource{
			preset("data.coder_workspace_preset.a", map[string]any{"name": "A"}),
			preset("data.coder_workspace_preset.b", map[string]any{"name": "A"}),
		}, `names must be unique: "A"`},
		{"two defaults", []tfResource{
			preset("data.coder_workspace_preset.a", map[string]any{"name": "A", "default": true}),
			preset("data.coder_workspace_preset.b", map[string]any{"name": "B", "default": true}),
		}, "only one coder_workspace_preset may be the default"},
	} {
		_, err := convertPresets(tc.res, params)
		require.Error(t, err, tc.name)
		require.True(t, strings.Contains(err.Error(), tc.want), "%s: %v", tc.name, err)
	}
}
