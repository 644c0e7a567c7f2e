package cli

// This file turns a template version's rich parameters plus the user's
// --parameter flags, parameter file and answers into a build's values.
// Values given on the command line go to the server as typed: it validates
// them and its field errors are shown. Answers typed at a prompt are checked
// first with the server's own rules (codersdk.ValidateParameterValue), so a
// typo is asked again instead of failing the command.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/opencoder/coder/codersdk"
)

// parseKeyValue splits "key=value" at the first '=', so values may contain
// '=' themselves. The key must not be empty; the value may be.
func parseKeyValue(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q is not of the form key=value", s)
	}
	return k, v, nil
}

// parseKeyValues parses repeated key=value flags; a key given twice is an
// error rather than a silent override.
func parseKeyValues(flag string, list []string) (map[string]string, error) {
	out := make(map[string]string, len(list))
	for _, s := range list {
		k, v, err := parseKeyValue(s)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flag, err)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--%s: %q is given more than once", flag, k)
		}
		out[k] = v
	}
	return out, nil
}

// decodeParameterFile reads a YAML (or JSON, which YAML includes) map of
// parameter name to value. Scalars keep their text exactly as written
// ("1.10" stays "1.10"); a list becomes the JSON array list(string)
// parameters take.
func decodeParameterFile(data []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML or JSON: %w", err)
	}
	if doc.Kind == 0 { // empty file
		return map[string]string{}, nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, errors.New("must be a map of parameter name to value, like 'region: eu'")
	}
	out := make(map[string]string, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			return nil, fmt.Errorf("line %d: parameter names must be plain strings", k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: %q is given more than once", k.Line, k.Value)
		}
		for v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag == "!!null" {
				out[k.Value] = ""
			} else {
				out[k.Value] = v.Value
			}
		case yaml.SequenceNode:
			elems := make([]string, 0, len(v.Content))
			for _, e := range v.Content {
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: %q: list items must be plain values", e.Line, k.Value)
				}
				elems = append(elems, e.Value)
			}
			b, _ := json.Marshal(elems)
			out[k.Value] = string(b)
		default:
			return nil, fmt.Errorf("line %d: %q: the value must be a string, number, bool or list", v.Line, k.Value)
		}
	}
	return out, nil
}

// parameterFlags are the flags that give parameter values.
type parameterFlags struct {
	values []string
	file   string
}

func (p *parameterFlags) attach(fs *pflag.FlagSet, getenv func(string) string) {
	flagStringArray(fs, getenv, &p.values, "parameter", "CODER_RICH_PARAMETER", "A parameter value, NAME=VALUE (repeatable; the value may contain '=').")
	flagString(fs, getenv, &p.file, "rich-parameter-file", "CODER_RICH_PARAMETER_FILE", "", "A YAML or JSON file mapping parameter names to values; --parameter wins over it.")
}

// collect merges the file and the flags.
func (p *parameterFlags) collect() (map[string]string, error) {
	out := map[string]string{}
	if p.file != "" {
		data, err := os.ReadFile(p.file)
		if err != nil {
			return nil, fmt.Errorf("read parameter file: %w", err)
		}
		if out, err = decodeParameterFile(data); err != nil {
			return nil, fmt.Errorf("parameter file %s: %w", p.file, err)
		}
	}
	flags, err := parseKeyValues("parameter", p.values)
	if err != nil {
		return nil, err
	}
	for k, v := range flags {
		out[k] = v
	}
	return out, nil
}

// resolveParameters returns the values to send for a version's parameter
// definitions. Parameters without a given value are asked for on a
// terminal (in is interactive); elsewhere the server applies defaults, and
// a required parameter without a value is an error that names every one.
// Given names the template does not declare are passed on for the server to
// reject with its own message.
func resolveParameters(defs []codersdk.TemplateVersionParameter, given map[string]string, in *prompter, out io.Writer) ([]codersdk.WorkspaceBuildParameter, error) {
	defs = slices.Clone(defs)
	sort.SliceStable(defs, func(i, j int) bool {
		if defs[i].Order != defs[j].Order {
			return defs[i].Order < defs[j].Order
		}
		return defs[i].Name < defs[j].Name
	})
	interactive := in != nil && in.interactive()
	var (
		values  []codersdk.WorkspaceBuildParameter
		missing []string
	)
	known := map[string]bool{}
	for _, d := range defs {
		known[d.Name] = true
		if v, ok := given[d.Name]; ok {
			values = append(values, codersdk.WorkspaceBuildParameter{Name: d.Name, Value: v})
			continue
		}
		if interactive {
			v, err := askParameter(in, out, d)
			if err != nil {
				return nil, err
			}
			values = append(values, codersdk.WorkspaceBuildParameter{Name: d.Name, Value: v})
			continue
		}
		if d.Required && d.DefaultValue == "" {
			missing = append(missing, describeParameter(d))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing values for required parameters (not a terminal, so they cannot be asked for):\n  %s\nPass them with --parameter NAME=VALUE or --rich-parameter-file FILE",
			strings.Join(missing, "\n  "))
	}
	var unknown []string
	for k := range given {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		values = append(values, codersdk.WorkspaceBuildParameter{Name: k, Value: given[k]})
	}
	return values, nil
}

// describeParameter names a parameter with what helps choose a value.
func describeParameter(d codersdk.TemplateVersionParameter) string {
	s := d.Name
	var extra []string
	if d.Type != "" && d.Type != "string" {
		extra = append(extra, d.Type)
	}
	if len(d.Options) > 0 {
		vals := make([]string, 0, len(d.Options))
		for _, o := range d.Options {
			vals = append(vals, o.Value)
		}
		extra = append(extra, "one of "+strings.Join(vals, ", "))
	}
	if desc := firstLine(plainDescription(d)); desc != "" {
		extra = append(extra, desc)
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, "; ") + ")"
	}
	return s
}

func plainDescription(d codersdk.TemplateVersionParameter) string {
	if d.DescriptionPlaintext != "" {
		return d.DescriptionPlaintext
	}
	return d.Description
}

// askParameter prompts until the answer passes the server's checks. Enter
// keeps the default.
func askParameter(in *prompter, out io.Writer, d codersdk.TemplateVersionParameter) (string, error) {
	title := d.Name
	if d.DisplayName != "" && d.DisplayName != d.Name {
		title = fmt.Sprintf("%s (%s)", d.DisplayName, d.Name)
	}
	fmt.Fprintf(out, "\n%s\n", title)
	for _, l := range strings.Split(strings.TrimSpace(plainDescription(d)), "\n") {
		if l != "" {
			fmt.Fprintf(out, "  %s\n", l)
		}
	}
	if len(d.Options) > 0 {
		fmt.Fprintln(out, "  Options:")
		for _, o := range d.Options {
			line := "    " + o.Value
			if o.Name != "" && o.Name != o.Value {
				line += " (" + o.Name + ")"
			}
			if o.Description != "" {
				line += ": " + firstLine(o.Description)
			}
			fmt.Fprintln(out, line)
		}
	}
	switch d.Type {
	case "number":
		hint := "  A number"
		if d.ValidationMin != nil && d.ValidationMax != nil {
			hint += fmt.Sprintf(" from %d to %d", *d.ValidationMin, *d.ValidationMax)
		} else if d.ValidationMin != nil {
			hint += fmt.Sprintf(" of at least %d", *d.ValidationMin)
		} else if d.ValidationMax != nil {
			hint += fmt.Sprintf(" of at most %d", *d.ValidationMax)
		}
		fmt.Fprintln(out, hint+".")
	case "bool":
		fmt.Fprintln(out, "  true or false.")
	case "list(string)":
		fmt.Fprintln(out, "  A list: comma-separated, or a JSON array.")
	}
	if d.DefaultValue != "" {
		fmt.Fprintf(out, "  Default: %s (press Enter to keep it)\n", d.DefaultValue)
	}
	for {
		answer, err := in.line("> ")
		if err != nil {
			return "", fmt.Errorf("parameter %s: %w", d.Name, err)
		}
		value := normalizeAnswer(d, answer)
		if answer == "" {
			if d.DefaultValue == "" && d.Required {
				fmt.Fprintln(out, "  A value is required.")
				continue
			}
			value = d.DefaultValue
		}
		if err := codersdk.ValidateParameterValue(d, value); err != nil {
			fmt.Fprintf(out, "  Invalid: %v. Try again.\n", err)
			continue
		}
		return value, nil
	}
}

// normalizeAnswer accepts what people type: an option's name for its value,
// yes/no for bools, a comma-separated list for list(string).
func normalizeAnswer(d codersdk.TemplateVersionParameter, a string) string {
	switch d.Type {
	case "bool":
		switch strings.ToLower(a) {
		case "y", "yes", "true":
			return "true"
		case "n", "no", "false":
			return "false"
		}
	case "list(string)":
		if a != "" && !strings.HasPrefix(a, "[") {
			var elems []string
			for _, e := range strings.Split(a, ",") {
				if e = strings.TrimSpace(e); e != "" {
					elems = append(elems, e)
				}
			}
			b, _ := json.Marshal(elems)
			return string(b)
		}
		return a
	}
	for _, o := range d.Options {
		if o.Value != a && strings.EqualFold(o.Name, a) {
			return o.Value
		}
	}
	return a
}
