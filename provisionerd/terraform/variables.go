package terraform

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/opencoder/coder/codersdk"
)

// This file reads the `variable` blocks of a template's root module from
// its source, before Terraform runs: an import must name a missing
// required variable (and how to set it) rather than fail on Terraform's
// "No value for required variable", and must know which values are
// sensitive before any of them could reach a log line. Terraform's own
// parser is internal, so this reads the same files with the HCL library it
// uses.

// ErrInvalidVariableBlock marks a template whose variable blocks (or
// tfvars files) cannot be read: a template error, reported before
// Terraform runs.
var ErrInvalidVariableBlock = errors.New("invalid template variables")

// declaredVariable is one variable block, overrides applied.
type declaredVariable struct {
	codersdk.TemplateVersionVariable
	// hclValue: values given at push are read as HCL expressions (a
	// type constraint other than string), not as literal strings;
	// Terraform's rule for -var.
	hclValue bool
}

var variableBlockSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}}}

var variableAttrSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "type"}, {Name: "default"}, {Name: "description"}, {Name: "sensitive"}, {Name: "nullable"},
}}

// isIgnoredFile is Terraform's rule for editor and hidden files in a
// module directory: never read.
func isIgnoredFile(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") ||
		(strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"))
}

// isOverrideFile is Terraform's naming of override files, which are
// merged into the other files' blocks instead of adding their own.
func isOverrideFile(name string) bool {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".json"), ".tf")
	return base == "override" || strings.HasSuffix(base, "_override")
}

// readVariables returns the variables declared in dir's .tf and .tf.json
// files (not subdirectories: modules get values from their callers), in
// name order.
func readVariables(dir string) ([]declaredVariable, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read template variables: %w", err)
	}
	var primary, overrides []string
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || isIgnoredFile(name) || !(strings.HasSuffix(name, ".tf") || strings.HasSuffix(name, ".tf.json")) {
			continue
		}
		if isOverrideFile(name) {
			overrides = append(overrides, name)
		} else {
			primary = append(primary, name)
		}
	}
	parser := hclparse.NewParser()
	vars := map[string]*declaredVariable{}
	// Terraform reads files in name order, overrides after the rest.
	for _, name := range append(primary, overrides...) {
		if err := readVariableFile(parser, filepath.Join(dir, name), name, isOverrideFile(name), vars); err != nil {
			return nil, err
		}
	}
	out := make([]declaredVariable, 0, len(vars))
	for _, v := range vars {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func readVariableFile(parser *hclparse.Parser, path, name string, override bool, vars map[string]*declaredVariable) error {
	isJSON := strings.HasSuffix(name, ".json")
	var f *hcl.File
	var diags hcl.Diagnostics
	if isJSON {
		f, diags = parser.ParseJSONFile(path)
	} else {
		f, diags = parser.ParseHCLFile(path)
	}
	if diags.HasErrors() {
		return fmt.Errorf("%w: %w", ErrInvalidVariableBlock, diags)
	}
	content, _, diags := f.Body.PartialContent(variableBlockSchema)
	if diags.HasErrors() {
		return fmt.Errorf("%w: %w", ErrInvalidVariableBlock, diags)
	}
	for _, b := range content.Blocks {
		vname := b.Labels[0]
		v, seen := vars[vname]
		switch {
		case seen && !override:
			return fmt.Errorf("%w: variable %q is declared twice (%s)", ErrInvalidVariableBlock, vname, b.DefRange)
		case !seen && override:
			return fmt.Errorf("%w: override file %s changes variable %q, which no other file declares", ErrInvalidVariableBlock, name, vname)
		case !seen:
			v = &declaredVariable{TemplateVersionVariable: codersdk.TemplateVersionVariable{Name: vname, Type: "string", Required: true}}
			vars[vname] = v
		}
		if err := v.apply(f, b, isJSON); err != nil {
			return fmt.Errorf("%w: variable %q (%s): %w", ErrInvalidVariableBlock, vname, b.DefRange, err)
		}
	}
	return nil
}

// apply sets what the block declares (all of it for a declaration, only
// what an override repeats otherwise).
func (v *declaredVariable) apply(f *hcl.File, b *hcl.Block, isJSON bool) error {
	attrs, _, diags := b.Body.PartialContent(variableAttrSchema)
	if diags.HasErrors() {
		return diags
	}
	if a, ok := attrs.Attributes["type"]; ok {
		v.Type = typeText(f, a.Expr, isJSON)
		v.hclValue = v.Type != "string"
	}
	if a, ok := attrs.Attributes["description"]; ok {
		s, err := constString(a.Expr)
		if err != nil {
			return fmt.Errorf("description: %w", err)
		}
		v.Description = s
	}
	if a, ok := attrs.Attributes["sensitive"]; ok {
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() || val.Type() != cty.Bool || val.IsNull() {
			return fmt.Errorf("sensitive must be true or false")
		}
		v.Sensitive = val.True()
	}
	nullable := true
	if a, ok := attrs.Attributes["nullable"]; ok {
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() || val.Type() != cty.Bool || val.IsNull() {
			return fmt.Errorf("nullable must be true or false")
		}
		nullable = val.True()
	}
	if a, ok := attrs.Attributes["default"]; ok {
		val, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return fmt.Errorf("default: %w", diags)
		}
		s, err := valueText(val)
		if err != nil {
			return fmt.Errorf("default: %w", err)
		}
		v.DefaultValue = s
		// A null default leaves the variable optional unless it is not
		// nullable: then it still needs a value.
		v.Required = val.IsNull() && !nullable
	}
	return nil
}

// typeText is a type constraint as written ("list(string)"); the legacy
// quoted form ("string") loses its quotes.
func typeText(f *hcl.File, expr hcl.Expression, isJSON bool) string {
	if kw := hcl.ExprAsKeyword(expr); kw != "" {
		return kw
	}
	if isJSON {
		if s, err := constString(expr); err == nil {
			return s
		}
	}
	r := expr.Range()
	if r.End.Byte <= len(f.Bytes) && r.Start.Byte <= r.End.Byte {
		s := strings.TrimSpace(string(f.Bytes[r.Start.Byte:r.End.Byte]))
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s
	}
	return "any"
}

func constString(expr hcl.Expression) (string, error) {
	val, diags := expr.Value(nil)
	if diags.HasErrors() {
		return "", diags
	}
	if val.IsNull() || val.Type() != cty.String {
		return "", fmt.Errorf("must be a string")
	}
	return val.AsString(), nil
}

// valueText renders a value as the API shows defaults: strings as they
// are, numbers and bools as Terraform prints them, the rest as JSON; null
// as "".
func valueText(val cty.Value) (string, error) {
	if val.IsNull() {
		return "", nil
	}
	if !val.IsWhollyKnown() {
		return "", fmt.Errorf("must be a constant")
	}
	switch val.Type() {
	case cty.String:
		return val.AsString(), nil
	case cty.Bool:
		return strconv.FormatBool(val.True()), nil
	case cty.Number:
		return val.AsBigFloat().Text('f', -1), nil
	}
	b, err := ctyjson.Marshal(val, val.Type())
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// autoVariableNames lists the variables the template sets itself in the
// files Terraform loads on its own (terraform.tfvars, *.auto.tfvars and
// their .json forms): those have a value without a default.
func autoVariableNames(dir string) (map[string]bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read template variables: %w", err)
	}
	parser := hclparse.NewParser()
	names := map[string]bool{}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || isIgnoredFile(name) {
			continue
		}
		var f *hcl.File
		var diags hcl.Diagnostics
		switch {
		case name == "terraform.tfvars" || strings.HasSuffix(name, ".auto.tfvars"):
			f, diags = parser.ParseHCLFile(filepath.Join(dir, name))
		case name == "terraform.tfvars.json" || strings.HasSuffix(name, ".auto.tfvars.json"):
			f, diags = parser.ParseJSONFile(filepath.Join(dir, name))
		default:
			continue
		}
		if diags.HasErrors() {
			return nil, fmt.Errorf("%w: %w", ErrInvalidVariableBlock, diags)
		}
		attrs, diags := f.Body.JustAttributes()
		if diags.HasErrors() {
			return nil, fmt.Errorf("%w: %w", ErrInvalidVariableBlock, diags)
		}
		for n := range attrs {
			names[n] = true
		}
	}
	return names, nil
}
