package database

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

// TemplateVersionVariable is a variable a version's template declares.
type TemplateVersionVariable struct {
	Name         string
	Description  string
	Type         string
	Value        *string // nil: none set at push, the default applies
	DefaultValue string
	Required     bool
	Sensitive    bool
}

// VariableValue is a name and value, as the version's pending values are
// stored (JSON {"name","value"}).
type VariableValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SetTemplateVersionPendingVariables stores the values given at push and
// those kept from the template's active version, for the import to use.
func (s *Store) SetTemplateVersionPendingVariables(ctx context.Context, id uuid.UUID, pushed, previous []VariableValue) error {
	p, err := json.Marshal(nonNil(pushed))
	if err != nil {
		return err
	}
	q, err := json.Marshal(nonNil(previous))
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, `UPDATE template_versions SET pushed_variable_values = $2, previous_variable_values = $3 WHERE id = $1`, id, p, q); err != nil {
		return fmt.Errorf("store pushed variable values: %w", err)
	}
	return nil
}

// GetTemplateVersionPendingVariables returns what
// SetTemplateVersionPendingVariables stored (empty once the import
// stored the variables).
func (s *Store) GetTemplateVersionPendingVariables(ctx context.Context, id uuid.UUID) (pushed, previous []VariableValue, err error) {
	var p, q []byte
	if err := s.db.QueryRow(ctx, `SELECT pushed_variable_values, previous_variable_values FROM template_versions WHERE id = $1`, id).Scan(&p, &q); err != nil {
		return nil, nil, notFound(err)
	}
	if err := json.Unmarshal(p, &pushed); err != nil {
		return nil, nil, fmt.Errorf("decode pushed variable values: %w", err)
	}
	if err := json.Unmarshal(q, &previous); err != nil {
		return nil, nil, fmt.Errorf("decode previous variable values: %w", err)
	}
	return pushed, previous, nil
}

// InsertTemplateVersionVariables stores what the import found (with the
// values set) and drops the pending values, which no longer serve.
func (s *Store) InsertTemplateVersionVariables(ctx context.Context, id uuid.UUID, vars []TemplateVersionVariable) error {
	for _, v := range vars {
		if _, err := s.db.Exec(ctx, `INSERT INTO template_version_variables
			(template_version_id, name, description, type, value, default_value, required, sensitive)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			id, v.Name, v.Description, v.Type, v.Value, v.DefaultValue, v.Required, v.Sensitive); err != nil {
			return fmt.Errorf("store template variable %q: %w", v.Name, err)
		}
	}
	if _, err := s.db.Exec(ctx, `UPDATE template_versions SET pushed_variable_values = '[]', previous_variable_values = '[]' WHERE id = $1`, id); err != nil {
		return fmt.Errorf("clear pushed variable values: %w", err)
	}
	return nil
}

// ClearTemplateVersionPendingVariables drops the values waiting on the
// version of an import job that ended without storing them (failed or
// canceled): they served that import only, and may be secrets.
func (s *Store) ClearTemplateVersionPendingVariables(ctx context.Context, importJobID uuid.UUID) error {
	if _, err := s.db.Exec(ctx, `UPDATE template_versions SET pushed_variable_values = '[]', previous_variable_values = '[]'
		WHERE job_id = $1 AND (pushed_variable_values <> '[]' OR previous_variable_values <> '[]')`, importJobID); err != nil {
		return fmt.Errorf("clear pushed variable values: %w", err)
	}
	return nil
}

// GetTemplateVersionVariables lists a version's variables by name, values
// (sensitive ones too) included: callers blank what they must not show.
func (s *Store) GetTemplateVersionVariables(ctx context.Context, id uuid.UUID) ([]TemplateVersionVariable, error) {
	rows, err := s.db.Query(ctx, `SELECT name, description, type, value, default_value, required, sensitive
		FROM template_version_variables WHERE template_version_id = $1 ORDER BY name`, id)
	if err != nil {
		return nil, fmt.Errorf("list template variables: %w", err)
	}
	defer rows.Close()
	var out []TemplateVersionVariable
	for rows.Next() {
		var v TemplateVersionVariable
		if err := rows.Scan(&v.Name, &v.Description, &v.Type, &v.Value, &v.DefaultValue, &v.Required, &v.Sensitive); err != nil {
			return nil, fmt.Errorf("scan template variable: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func nonNil(vs []VariableValue) []VariableValue {
	if vs == nil {
		return []VariableValue{}
	}
	return vs
}
