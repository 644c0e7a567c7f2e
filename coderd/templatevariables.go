package coderd

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// Template variables (Terraform `variable` blocks) are set per version at
// push: POST /templateversions takes user_variable_values, the import
// checks them against the template's declarations (provisionerd/terraform),
// and every build of the version gets them. See docs/templates.md.

const (
	// maxVariableValues bounds one push's values; maxVariableValueBytes
	// one value (Terraform has no limit; the version row does).
	maxVariableValues     = 256
	maxVariableValueBytes = 64 << 10
)

// validateVariableValues checks the names (Terraform identifiers, each
// once) and the values (UTF-8 without NUL, bounded); whether the template
// declares them is the import's to say.
func validateVariableValues(v *httpapi.Validator, vals []codersdk.VariableValue) {
	if len(vals) > maxVariableValues {
		v.Add("user_variable_values", "must hold at most %d values", maxVariableValues)
		return
	}
	seen := map[string]int{}
	for i, val := range vals {
		field := fmt.Sprintf("user_variable_values[%d]", i)
		if err := codersdk.ValidateVariableName(val.Name); err != nil {
			v.Add(field+".name", "%s", err.Error())
		} else if first, dup := seen[val.Name]; dup {
			v.Add(field+".name", "%q is given twice (also user_variable_values[%d]); give each variable once", val.Name, first)
		} else {
			seen[val.Name] = i
		}
		switch {
		case len(val.Value) > maxVariableValueBytes:
			v.Add(field+".value", "must be at most %d bytes", maxVariableValueBytes)
		case !utf8.ValidString(val.Value):
			v.Add(field+".value", "must be valid UTF-8")
		case strings.ContainsRune(val.Value, 0):
			v.Add(field+".value", "must not contain NUL characters")
		}
	}
}

// previousVariableValues are the values set on a template's active version
// for the variables not given now: a new version keeps them (sensitive
// ones too, which no client could send back) unless the template no
// longer declares them, which the import decides.
func (api *API) previousVariableValues(ctx context.Context, t database.Template, given []codersdk.VariableValue) ([]database.VariableValue, error) {
	vars, err := api.opts.DB.GetTemplateVersionVariables(ctx, t.ActiveVersionID)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, g := range given {
		set[g.Name] = true
	}
	var out []database.VariableValue
	for _, v := range vars {
		if v.Value != nil && !set[v.Name] {
			out = append(out, database.VariableValue{Name: v.Name, Value: *v.Value})
		}
	}
	return out, nil
}

func dbVariableValues(vals []codersdk.VariableValue) []database.VariableValue {
	out := make([]database.VariableValue, 0, len(vals))
	for _, v := range vals {
		out = append(out, database.VariableValue{Name: v.Name, Value: v.Value})
	}
	return out
}

// templateVersionVariables answers the variables the version's template
// declares, with the values it was pushed with; sensitive values are
// never returned. Empty before the import succeeded.
func (api *API) templateVersionVariables(w http.ResponseWriter, r *http.Request) {
	vars, err := api.opts.DB.GetTemplateVersionVariables(r.Context(), versionParam(r).ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get template variables", err)
		return
	}
	out := make([]codersdk.TemplateVersionVariable, 0, len(vars))
	for _, v := range vars {
		value := ""
		if v.Value != nil && !v.Sensitive {
			value = *v.Value
		}
		out = append(out, codersdk.TemplateVersionVariable{
			Name: v.Name, Description: v.Description, Type: v.Type, Value: value,
			DefaultValue: v.DefaultValue, Required: v.Required, Sensitive: v.Sensitive,
		})
	}
	httpapi.Write(w, http.StatusOK, out)
}
