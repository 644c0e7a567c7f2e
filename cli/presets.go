package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

// presetNone is the --preset value that applies no preset, not even the
// template's default one.
const presetNone = "none"

// applyPreset merges the chosen preset's values under the values given on
// the command line (those win). choice is --preset: a name, "none", or
// empty for the template's default preset if it has one. It returns the
// preset applied, if any.
func applyPreset(ctx context.Context, client *codersdk.Client, version uuid.UUID, choice string, given map[string]string, stderr io.Writer) (*codersdk.Preset, error) {
	if choice == presetNone {
		return nil, nil
	}
	presets, err := client.TemplateVersionPresets(ctx, version)
	if err != nil {
		return nil, wrapAPI("get the template's presets", err)
	}
	var chosen *codersdk.Preset
	for i := range presets {
		if (choice == "" && presets[i].Default) || (choice != "" && presets[i].Name == choice) {
			chosen = &presets[i]
		}
	}
	if chosen == nil {
		if choice == "" {
			return nil, nil
		}
		names := make([]string, 0, len(presets)+1)
		for _, p := range presets {
			names = append(names, fmt.Sprintf("%q", p.Name))
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("the template has no presets; drop --preset")
		}
		return nil, fmt.Errorf("no preset %q: the template's presets are %s (or %q)", choice, strings.Join(names, ", "), presetNone)
	}
	for _, p := range chosen.Parameters {
		if _, ok := given[p.Name]; !ok {
			given[p.Name] = p.Value
		}
	}
	how := "preset"
	if choice == "" {
		how = "the template's default preset"
	}
	fmt.Fprintf(stderr, "Using %s %q.\n", how, chosen.Name)
	return chosen, nil
}
