package codersdk

import (
	"context"
	"fmt"
	"net/http"
	"regexp"

	"github.com/google/uuid"
)

// Template variables are Terraform `variable` blocks of a template's root
// module. Unlike parameters (chosen by each workspace's owner at every
// build), their values are set once per template version by whoever
// pushes it (`coder templates push --variable NAME=VALUE`), and every
// build of that version gets the same values.

// VariableValue is a value given for a template variable at push. Values
// of variables whose type is not string are read as Terraform reads -var
// (an HCL expression: true, 3, ["a", "b"]).
type VariableValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TemplateVersionVariable is a variable a version's template declares, as
// its import found it, with the value the version was pushed with.
type TemplateVersionVariable struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Type is the declared type constraint ("string", "bool",
	// "list(string)"...); "string" when none is declared, as a value
	// given at push is then a string.
	Type string `json:"type"`
	// Value is the value given at push (or kept from the template's
	// previous version); empty when none was, the default then applies.
	// Always empty for a sensitive variable: its value is stored for
	// builds but never returned.
	Value string `json:"value"`
	// DefaultValue is the declared default: strings as they are, other
	// values as JSON.
	DefaultValue string `json:"default_value"`
	// Required means the variable has no default, so a version cannot be
	// imported without a value for it.
	Required  bool `json:"required"`
	Sensitive bool `json:"sensitive"`
}

// variableNameRE is Terraform's identifier syntax (letters, digits,
// underscores and hyphens, not starting with a digit or hyphen).
var variableNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// MaxVariableNameLength bounds a variable name (Terraform has no limit;
// environment variable and column sizes do).
const MaxVariableNameLength = 128

// ValidateVariableName says why name cannot be a Terraform variable's,
// or nil.
func ValidateVariableName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("is required")
	case len(name) > MaxVariableNameLength:
		return fmt.Errorf("must be at most %d characters", MaxVariableNameLength)
	case !variableNameRE.MatchString(name):
		return fmt.Errorf("%q is not a Terraform identifier: letters, digits, underscores and hyphens, starting with a letter or underscore", name)
	}
	return nil
}

// TemplateVersionVariables lists the variables a version's template
// declares (empty before its import succeeded), sensitive values blanked.
func (c *Client) TemplateVersionVariables(ctx context.Context, version uuid.UUID) ([]TemplateVersionVariable, error) {
	var out []TemplateVersionVariable
	return out, c.do(ctx, http.MethodGet, "/api/v2/templateversions/"+version.String()+"/variables", nil, http.StatusOK, &out)
}
