package terraform

import (
	"fmt"
	"sort"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
)

// presetAttrs is the coder_workspace_preset data source's schema
// (terraform-provider-coder provider/workspace_preset.go). Prebuilds are
// not supported here (no prebuilt-workspace pools yet).
type presetAttrs struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Icon        string            `json:"icon"`
	Default     bool              `json:"default"`
	Parameters  map[string]string `json:"parameters"`
}

// convertPresets reads the coder_workspace_preset data sources and checks
// them against the template's parameters, so a broken preset fails the
// import with the reason rather than the user's build later: names must be
// unique, at most one may be the default, and each value must name a
// coder_parameter and pass its validation.
func convertPresets(all []tfResource, params []codersdk.TemplateVersionParameter) ([]codersdk.Preset, error) {
	defs := map[string]codersdk.TemplateVersionParameter{}
	for _, p := range params {
		defs[p.Name] = p
	}
	var out []codersdk.Preset
	seen := map[string]string{}
	defaultAt := ""
	for _, r := range all {
		if r.Mode != tfjson.DataResourceMode || r.Type != "coder_workspace_preset" {
			continue
		}
		var a presetAttrs
		if err := decodeAttrs(r, &a); err != nil {
			return nil, err
		}
		if a.Name == "" {
			return nil, fmt.Errorf("%s: a preset needs a name", r.Address)
		}
		if prev, ok := seen[a.Name]; ok {
			return nil, fmt.Errorf("coder_workspace_preset names must be unique: %q is used by %s and %s", a.Name, prev, r.Address)
		}
		seen[a.Name] = r.Address
		if a.Default {
			if defaultAt != "" {
				return nil, fmt.Errorf("only one coder_workspace_preset may be the default: %s and %s both are", defaultAt, r.Address)
			}
			defaultAt = r.Address
		}
		p := codersdk.Preset{Name: a.Name, Description: a.Description, Icon: a.Icon, Default: a.Default, Parameters: []codersdk.PresetParameter{}}
		for name, value := range a.Parameters {
			def, ok := defs[name]
			if !ok {
				return nil, fmt.Errorf("%s (preset %q) sets parameter %q, which no coder_parameter declares", r.Address, a.Name, name)
			}
			if err := codersdk.ValidateParameterValue(def, value); err != nil {
				return nil, fmt.Errorf("%s (preset %q): parameter %q: %w", r.Address, a.Name, name, err)
			}
			p.Parameters = append(p.Parameters, codersdk.PresetParameter{Name: name, Value: value})
		}
		sort.Slice(p.Parameters, func(i, j int) bool { return p.Parameters[i].Name < p.Parameters[j].Name })
		out = append(out, p)
	}
	return out, nil
}
