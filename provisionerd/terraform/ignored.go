package terraform

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// understood lists, per coder provider type, the attributes and blocks the
// provisioner reads (the JSON names of its attribute structs). A template
// may set others the provider knows but we do not act on yet: those are
// reported once per import as "ignored: TYPE.ATTRIBUTE", never dropped in
// silence.
var understood = map[string]map[string]bool{
	"coder_agent":            jsonNames(agentAttrs{}),
	"coder_agent_instance":   jsonNames(agentInstanceAttrs{}),
	"coder_app":              jsonNames(appAttrs{}),
	"coder_script":           jsonNames(scriptAttrs{}),
	"coder_env":              jsonNames(envAttrs{}),
	"coder_metadata":         jsonNames(metadataAttrs{}),
	"coder_parameter":        jsonNames(parameterAttrs{}),
	"coder_workspace_preset": jsonNames(presetAttrs{}),
	// Data sources read entirely by Terraform itself: every attribute is
	// an input to the template, none is ours to act on.
	"coder_workspace":       nil,
	"coder_workspace_owner": nil,
	"coder_provisioner":     nil,
	"coder_external_auth":   nil,
}

// alwaysUnderstood are meta-arguments and attributes every resource has.
var alwaysUnderstood = map[string]bool{"count": true, "for_each": true, "depends_on": true, "lifecycle": true, "provider": true, "id": true}

func jsonNames(v any) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

// ignoredAttributes names, sorted and once each, the coder provider
// attributes the template sets (its configuration, in every module) that
// the provisioner does not act on, and coder resource types it does not
// know at all.
func ignoredAttributes(config *tfjson.Config) []string {
	if config == nil || config.RootModule == nil {
		return nil
	}
	seen := map[string]bool{}
	var walk func(m *tfjson.ConfigModule)
	walk = func(m *tfjson.ConfigModule) {
		for _, r := range m.Resources {
			if !strings.HasPrefix(r.Type, "coder_") {
				continue
			}
			known, ok := understood[r.Type]
			if !ok {
				seen[r.Type+" (the whole "+string(r.Mode)+" type)"] = true
				continue
			}
			if known == nil {
				continue
			}
			for attr := range r.Expressions {
				if !known[attr] && !alwaysUnderstood[attr] {
					seen[r.Type+"."+attr] = true
				}
			}
		}
		for _, call := range m.ModuleCalls {
			if call.Module != nil {
				walk(call.Module)
			}
		}
	}
	walk(config.RootModule)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, fmt.Sprintf("ignored: %s", k))
	}
	sort.Strings(out)
	return out
}
