package terraform

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/opencoder/coder/codersdk"
)

// VariablesError is an import that cannot run with the variable values it
// was given: a required variable has none, or a value names a variable the
// template does not declare or does not parse. Its message says which and
// how to fix it.
type VariablesError struct {
	// Missing are required variables without a value; Unknown are names
	// given that the template does not declare; Invalid are messages about
	// values that do not parse.
	Missing, Unknown, Invalid []string
}

func (e *VariablesError) Error() string {
	var parts []string
	if len(e.Unknown) > 0 {
		parts = append(parts, fmt.Sprintf("the template declares no variable %s: remove it from --variable/--variables-file (or add a `variable` block)", quoteList(e.Unknown)))
	}
	parts = append(parts, e.Invalid...)
	if len(e.Missing) > 0 {
		sets := make([]string, 0, len(e.Missing))
		for _, n := range e.Missing {
			sets = append(sets, "--variable "+n+"=VALUE")
		}
		parts = append(parts, fmt.Sprintf("required template variable %s not set (no default): set it with `coder templates push %s` or in --variables-file",
			quoteList(e.Missing), strings.Join(sets, " ")))
	}
	return strings.Join(parts, "; ")
}

func quoteList(names []string) string {
	q := make([]string, 0, len(names))
	for _, n := range names {
		q = append(q, fmt.Sprintf("%q", n))
	}
	return strings.Join(q, ", ")
}

// templateVariables is what a job passes to Terraform: the declared
// variables and the values it sets.
type templateVariables struct {
	declared []declaredVariable
	values   map[string]string
	// parseErr: the variable blocks could not be read (wrapping
	// ErrInvalidVariableBlock). The job goes on without values so that
	// Terraform reports the template's error in its own words; should
	// Terraform accept what the HCL library refused, the import fails
	// with parseErr.
	parseErr error
}

// resolveVariables checks the given values against what dir declares.
// given must all be declared; previous (a template's earlier version) fill
// in the declared ones not given and are dropped otherwise; every required
// variable needs a value unless the template's own tfvars set it. strict
// false (builds) drops unknown given values instead of failing: the import
// already judged them. logf reports what was dropped.
func resolveVariables(dir string, given, previous map[string]string, strict bool, logf func(string, ...any)) (*templateVariables, error) {
	declared, err := readVariables(dir)
	var auto map[string]bool
	if err == nil {
		auto, err = autoVariableNames(dir)
	}
	if errors.Is(err, ErrInvalidVariableBlock) {
		return &templateVariables{values: map[string]string{}, parseErr: err}, nil
	}
	if err != nil {
		return nil, err
	}
	byName := map[string]declaredVariable{}
	for _, d := range declared {
		byName[d.Name] = d
	}
	out := &templateVariables{declared: declared, values: map[string]string{}}
	var verr VariablesError
	for _, name := range sortedKeys(given) {
		d, ok := byName[name]
		if !ok {
			if strict {
				verr.Unknown = append(verr.Unknown, name)
			} else {
				logf("Template variable %q has a value but the template no longer declares it: ignored.", name)
			}
			continue
		}
		if _, err := variableValue(d, given[name]); err != nil {
			verr.Invalid = append(verr.Invalid, err.Error())
			continue
		}
		out.values[name] = given[name]
	}
	for _, name := range sortedKeys(previous) {
		if _, ok := given[name]; ok {
			continue
		}
		d, ok := byName[name]
		if !ok {
			logf("Template variable %q of the previous version is no longer declared: its value is dropped.", name)
			continue
		}
		if _, err := variableValue(d, previous[name]); err != nil {
			verr.Invalid = append(verr.Invalid, err.Error()+" (value kept from the previous version: set it again with --variable)")
			continue
		}
		out.values[name] = previous[name]
	}
	for _, d := range declared {
		if _, ok := out.values[d.Name]; !ok && d.Required && !auto[d.Name] {
			verr.Missing = append(verr.Missing, d.Name)
		}
	}
	if len(verr.Missing)+len(verr.Unknown)+len(verr.Invalid) > 0 {
		return nil, &verr
	}
	return out, nil
}

// variableValue reads a value as Terraform reads -var: literally for a
// string (or untyped) variable, else as a constant HCL expression.
func variableValue(d declaredVariable, raw string) (cty.Value, error) {
	if !d.hclValue {
		return cty.StringVal(raw), nil
	}
	expr, diags := hclsyntax.ParseExpression([]byte(raw), d.Name, hcl.Pos{Line: 1, Column: 1})
	if !diags.HasErrors() {
		var val cty.Value
		if val, diags = expr.Value(nil); !diags.HasErrors() {
			return val, nil
		}
	}
	msg := fmt.Sprintf("template variable %q (type %s): the value is not a %s literal", d.Name, d.Type, d.Type)
	if !d.Sensitive {
		msg = fmt.Sprintf("template variable %q (type %s): %q is not a %s literal", d.Name, d.Type, raw, d.Type)
	}
	return cty.NilVal, fmt.Errorf("%s (%s)", msg, diags[0].Summary)
}

// secrets are the values of sensitive variables, kept out of logs.
func (tv *templateVariables) secrets() []string {
	var out []string
	for _, d := range tv.declared {
		if v, ok := tv.values[d.Name]; ok && d.Sensitive {
			out = append(out, v)
		}
	}
	return out
}

// writeVarFile writes the values as a .tfvars file (0600) for -var-file:
// unlike -var it keeps the values out of the host's process list. Returns
// "" when there are none.
func (tv *templateVariables) writeVarFile(dir string) (string, error) {
	if len(tv.values) == 0 {
		return "", nil
	}
	f := hclwrite.NewEmptyFile()
	for _, d := range tv.declared {
		raw, ok := tv.values[d.Name]
		if !ok {
			continue
		}
		val, err := variableValue(d, raw)
		if err != nil {
			return "", err
		}
		f.Body().SetAttributeRaw(d.Name, hclwrite.TokensForValue(val))
	}
	tmp, err := os.CreateTemp(dir, "variables-*.tfvars")
	if err != nil {
		return "", fmt.Errorf("write template variables: %w", err)
	}
	_, werr := tmp.Write(f.Bytes())
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("write template variables: %w", werr)
	}
	return tmp.Name(), nil
}

// apiVariables are the declared variables as the import reports them (no
// values: coderd holds those).
func (tv *templateVariables) apiVariables() []codersdk.TemplateVersionVariable {
	out := make([]codersdk.TemplateVersionVariable, 0, len(tv.declared))
	for _, d := range tv.declared {
		out = append(out, d.TemplateVersionVariable)
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
