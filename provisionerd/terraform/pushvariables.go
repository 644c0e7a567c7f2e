package terraform

import (
	"github.com/opencoder/coder/codersdk"
)

// PushVariables returns the variables the root module in dir declares,
// read exactly as an import reads them, with Required false for those the
// template's own tfvars files set. It is for a client about to push dir:
// when the import fails with REQUIRED_TEMPLATE_VARIABLES, the job carries
// only the error code (the failed version stores no variables), so the
// client learns from the same reader which variables still need a value.
func PushVariables(dir string) ([]codersdk.TemplateVersionVariable, error) {
	declared, err := readVariables(dir)
	if err != nil {
		return nil, err
	}
	auto, err := autoVariableNames(dir)
	if err != nil {
		return nil, err
	}
	out := make([]codersdk.TemplateVersionVariable, 0, len(declared))
	for _, d := range declared {
		v := d.TemplateVersionVariable
		v.Required = v.Required && !auto[v.Name]
		out = append(out, v)
	}
	return out, nil
}
