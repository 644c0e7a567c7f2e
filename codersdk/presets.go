package codersdk

import (
	"context"
	"net/http"

	"github.com/google/uuid"
)

// Preset is a named set of parameter values a template offers at workspace
// creation (a coder_workspace_preset data source): users pick one instead
// of filling every field. Parameters it does not set keep their defaults
// and stay editable.
type Preset struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Icon        string `json:"icon,omitempty"`
	// Default marks the preset the create form selects first.
	Default    bool              `json:"default"`
	Parameters []PresetParameter `json:"parameters"`
}

// PresetParameter is one value a preset sets.
type PresetParameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TemplateVersionPresets lists a version's presets (empty when it has none
// or its import has not succeeded).
func (c *Client) TemplateVersionPresets(ctx context.Context, version uuid.UUID) ([]Preset, error) {
	var out []Preset
	return out, c.do(ctx, http.MethodGet, "/api/v2/templateversions/"+version.String()+"/presets", nil, http.StatusOK, &out)
}
