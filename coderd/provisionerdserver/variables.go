package provisionerdserver

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// Template variable values travel: push -> the version's pending values
// -> the import job (which checks them against the declarations) -> one
// row per declared variable -> every build of the version.

// importVariables are an import job's values: given at push, and kept
// from the template's active version.
func (s *Server) importVariables(ctx context.Context, versionID uuid.UUID) (given, previous []codersdk.VariableValue, err error) {
	p, q, err := s.opts.DB.GetTemplateVersionPendingVariables(ctx, versionID)
	if err != nil {
		return nil, nil, fmt.Errorf("get pushed variable values: %w", err)
	}
	return sdkVariableValues(p), sdkVariableValues(q), nil
}

// buildVariables are the values a build of the version passes: those set
// at its push (the others keep their defaults).
func (s *Server) buildVariables(ctx context.Context, versionID uuid.UUID) ([]codersdk.VariableValue, error) {
	vars, err := s.opts.DB.GetTemplateVersionVariables(ctx, versionID)
	if err != nil {
		return nil, fmt.Errorf("get template variables: %w", err)
	}
	var out []codersdk.VariableValue
	for _, v := range vars {
		if v.Value != nil {
			out = append(out, codersdk.VariableValue{Name: v.Name, Value: *v.Value})
		}
	}
	return out, nil
}

// storeVariables records the variables an import found, each with the
// value pushed for it (or kept from the previous version) if any. The
// runner refused values for undeclared variables; any left are dropped.
func storeVariables(ctx context.Context, tx *database.Store, versionID uuid.UUID, declared []codersdk.TemplateVersionVariable) error {
	pushed, previous, err := tx.GetTemplateVersionPendingVariables(ctx, versionID)
	if err != nil {
		return fmt.Errorf("get pushed variable values: %w", err)
	}
	values := map[string]string{}
	for _, v := range previous {
		values[v.Name] = v.Value
	}
	for _, v := range pushed {
		values[v.Name] = v.Value
	}
	seen := map[string]bool{}
	rows := make([]database.TemplateVersionVariable, 0, len(declared))
	for _, d := range declared {
		if seen[d.Name] || codersdk.ValidateVariableName(d.Name) != nil {
			continue
		}
		seen[d.Name] = true
		row := database.TemplateVersionVariable{
			Name: d.Name, Description: httpapi.Truncate(d.Description, 4096), Type: httpapi.Truncate(d.Type, 1024),
			DefaultValue: httpapi.Truncate(d.DefaultValue, 64<<10), Required: d.Required, Sensitive: d.Sensitive,
		}
		if v, ok := values[d.Name]; ok {
			row.Value = &v
		}
		rows = append(rows, row)
	}
	return tx.InsertTemplateVersionVariables(ctx, versionID, rows)
}

func sdkVariableValues(vs []database.VariableValue) []codersdk.VariableValue {
	out := make([]codersdk.VariableValue, 0, len(vs))
	for _, v := range vs {
		out = append(out, codersdk.VariableValue{Name: v.Name, Value: v.Value})
	}
	return out
}
