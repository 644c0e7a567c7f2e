package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd/terraform"
)

// Template variables (Terraform `variable` blocks) are set at push with
// --variable and --variables-file; a re-push of a template keeps the
// active version's values for those it does not give (the server does
// that, sensitive values included).

// variableFlags are `coder templates push`'s variable flags.
type variableFlags struct {
	values []string
	file   string
}

func (p *variableFlags) attach(fs *pflag.FlagSet, getenv func(string) string) {
	fs.StringArrayVar(&p.values, "variable", nil, "A template variable value, NAME=VALUE (repeatable; the value may contain '='). Values not given keep those of the template's active version.")
	flagString(fs, getenv, &p.file, "variables-file", "CODER_TEMPLATE_VARIABLES_FILE", "", "A YAML file mapping template variable names to values ('region: eu'); --variable wins over it.")
}

// collect merges the file and the flags, checking the names as the server
// does, in name order.
func (p *variableFlags) collect() ([]codersdk.VariableValue, error) {
	merged := map[string]string{}
	if p.file != "" {
		data, err := os.ReadFile(p.file)
		if err != nil {
			return nil, fmt.Errorf("--variables-file: %w", err)
		}
		if merged, err = decodeVariablesFile(data); err != nil {
			return nil, fmt.Errorf("--variables-file %s: %w", p.file, err)
		}
	}
	flags, err := parseKeyValues("variable", p.values)
	if err != nil {
		return nil, err
	}
	for k, v := range flags {
		merged[k] = v
	}
	out := make([]codersdk.VariableValue, 0, len(merged))
	for k, v := range merged {
		if err := codersdk.ValidateVariableName(k); err != nil {
			return nil, fmt.Errorf("template variable name %s", err)
		}
		out = append(out, codersdk.VariableValue{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// decodeVariablesFile reads a YAML map of variable name to value. Scalars
// keep their text as written ("1.10" stays "1.10"); lists and maps become
// JSON, which Terraform reads as a list, map or object value.
func decodeVariablesFile(data []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	out := map[string]string{}
	if doc.Kind == 0 { // empty file
		return out, nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("must be a YAML map of variable name to value, like 'region: eu'")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("line %d: variable names must be plain strings", k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: %q is given more than once", k.Line, k.Value)
		}
		for v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			return nil, fmt.Errorf("line %d: %q has no value: give one (\"\" for an empty string) or leave it out", v.Line, k.Value)
		case v.Kind == yaml.ScalarNode:
			out[k.Value] = v.Value
		case v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode:
			var val any
			if err := v.Decode(&val); err != nil {
				return nil, fmt.Errorf("line %d: %q: %w", v.Line, k.Value, err)
			}
			b, err := json.Marshal(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %q: only string keys are allowed in maps: %w", v.Line, k.Value, err)
			}
			out[k.Value] = string(b)
		default:
			return nil, fmt.Errorf("line %d: %q: the value must be a string, number, bool, list or map", v.Line, k.Value)
		}
	}
	return out, nil
}

// templatesVariablesCmd lists the variables of a template's active
// version (sensitive values are never shown: the server does not return
// them).
func (r *Root) templatesVariablesCmd() *cobra.Command {
	var (
		out outputFormat
		org orgFlag
	)
	cmd := &cobra.Command{
		Use:   "variables TEMPLATE",
		Short: "List the Terraform variables of a template's active version and their values",
		Long: `List the Terraform variables the template's active version declares, with
the values it was pushed with (set them with coder templates push --variable
NAME=VALUE). Sensitive values are never shown.`,
		Args: cobra.ExactArgs(1),
		RunE: r.withTemplate(&out, &org, func(ctx context.Context, client *codersdk.Client, tmpl codersdk.Template) error {
			vars, err := client.TemplateVersionVariables(ctx, tmpl.ActiveVersionID)
			if err != nil {
				return wrapAPI("get the template's variables", err)
			}
			rows := make([][]string, 0, len(vars))
			for _, v := range vars {
				value := v.Value
				if v.Sensitive {
					value = "(sensitive)"
				}
				flags := []string{}
				if v.Required {
					flags = append(flags, "required")
				}
				if v.Sensitive {
					flags = append(flags, "sensitive")
				}
				rows = append(rows, []string{v.Name, v.Type, value, v.DefaultValue, strings.Join(flags, ","), firstLine(v.Description)})
			}
			return out.write(r.Stdout, vars, []string{"name", "type", "value", "default", "flags", "description"}, rows)
		}),
	}
	org.attach(cmd.Flags(), r.Getenv)
	out.attach(cmd)
	return cmd
}

// askMissingVariables asks, on a terminal, for the required variables an
// import found without a value. The failed job says only that some were
// missing (REQUIRED_TEMPLATE_VARIABLES), so which ones comes from dir's
// variable blocks, read as the import reads them: those required, not
// given now and not kept from the active version. None found means this
// cannot tell, and nothing is asked.
func (r *Root) askMissingVariables(ctx context.Context, client *codersdk.Client, in *prompter, dir string, active *codersdk.Template, given []codersdk.VariableValue) ([]codersdk.VariableValue, error) {
	declared, err := terraform.PushVariables(dir)
	if err != nil {
		return nil, fmt.Errorf("read the template's variables: %w", err)
	}
	have := map[string]bool{}
	for _, g := range given {
		have[g.Name] = true
	}
	if active != nil {
		kept, err := client.TemplateVersionVariables(ctx, active.ActiveVersionID)
		if err != nil {
			return nil, wrapAPI("get the active version's variables", err)
		}
		for _, k := range kept {
			// A sensitive value is never returned; a required one had a
			// value for the active version's import to succeed.
			if k.Value != "" || (k.Sensitive && k.Required) {
				have[k.Name] = true
			}
		}
	}
	var missing []codersdk.TemplateVersionVariable
	for _, d := range declared {
		if d.Required && !have[d.Name] {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	fmt.Fprintf(r.Stderr, "\nThe template needs a value for %d variable(s) without a default.\n", len(missing))
	out := make([]codersdk.VariableValue, 0, len(missing))
	for _, d := range missing {
		v, err := askVariable(in, r.Stderr, d)
		if err != nil {
			return nil, fmt.Errorf("template variable %s: %w", d.Name, err)
		}
		out = append(out, codersdk.VariableValue{Name: d.Name, Value: v})
	}
	return out, nil
}

// askVariable asks for one variable's value, hidden when it is sensitive,
// until it is not empty.
func askVariable(in *prompter, out io.Writer, d codersdk.TemplateVersionVariable) (string, error) {
	kind := d.Type
	if d.Sensitive {
		kind += ", sensitive"
	}
	fmt.Fprintf(out, "\n%s (%s)\n", d.Name, kind)
	for _, l := range strings.Split(strings.TrimSpace(d.Description), "\n") {
		if l != "" {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	if d.Type != "string" {
		fmt.Fprintf(out, "  A Terraform value of type %s, as for -var (true, 3, [\"a\", \"b\"]).\n", d.Type)
	}
	for {
		var (
			v   string
			err error
		)
		if d.Sensitive {
			v, err = in.secret(d.Name + " (hidden): ")
		} else {
			v, err = in.line(d.Name + ": ")
		}
		if err != nil {
			return "", err
		}
		if v != "" {
			return v, nil
		}
		fmt.Fprintln(out, "A value is required.")
	}
}

// mergeVariables adds asked to given, in name order.
func mergeVariables(given, asked []codersdk.VariableValue) []codersdk.VariableValue {
	out := append(slices.Clone(given), asked...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
