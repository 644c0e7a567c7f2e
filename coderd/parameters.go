package coderd

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
)

// resolveBuildParameters validates a build's parameter values against the
// version's definitions, field by field, and returns the full set to store:
// given values, else the previous build's (unless ephemeral), else defaults.
func resolveBuildParameters(defs []codersdk.TemplateVersionParameter, given []codersdk.WorkspaceBuildParameter, previous []database.WorkspaceBuildParameter, firstBuild bool) ([]database.WorkspaceBuildParameter, []codersdk.ValidationError) {
	var errs []codersdk.ValidationError
	fail := func(i int, name, format string, args ...any) {
		field := "rich_parameter_values"
		if i >= 0 {
			field = fmt.Sprintf("rich_parameter_values[%d]", i)
		}
		if name != "" {
			field += "(" + name + ")"
		}
		errs = append(errs, codersdk.ValidationError{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	byName := map[string]codersdk.TemplateVersionParameter{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	givenIdx := map[string]int{}
	for i, g := range given {
		if _, dup := givenIdx[g.Name]; dup {
			fail(i, g.Name, "given more than once")
			continue
		}
		givenIdx[g.Name] = i
		if _, ok := byName[g.Name]; !ok {
			names := make([]string, 0, len(defs))
			for _, d := range defs {
				names = append(names, d.Name)
			}
			fail(i, g.Name, "unknown parameter; the template's parameters are %v", names)
		}
	}
	prev := map[string]string{}
	for _, p := range previous {
		prev[p.Name] = p.Value
	}
	var out []database.WorkspaceBuildParameter
	for _, d := range defs {
		i, isGiven := givenIdx[d.Name]
		if !isGiven {
			i = -1
		}
		var value string
		pv, hasPrev := prev[d.Name]
		switch {
		case isGiven:
			value = given[i].Value
		case hasPrev && !d.Ephemeral:
			value = pv
		case d.Required && d.DefaultValue == "":
			fail(-1, d.Name, "is required (no default value)")
			continue
		default:
			value = d.DefaultValue
		}
		if isGiven && !firstBuild && !d.Mutable && hasPrev && value != pv {
			fail(i, d.Name, "cannot be changed after the workspace was created (it is immutable)")
			continue
		}
		if err := validateParameterValue(d, value); err != nil {
			fail(i, d.Name, "%s", err.Error())
			continue
		}
		if hasPrev && d.ValidationMonotonic != "" && d.Type == "number" {
			a, _ := strconv.ParseFloat(pv, 64)
			b, _ := strconv.ParseFloat(value, 64)
			if (d.ValidationMonotonic == "increasing" && b < a) || (d.ValidationMonotonic == "decreasing" && b > a) {
				fail(i, d.Name, "must be monotonically %s (previous value %s)", d.ValidationMonotonic, pv)
				continue
			}
		}
		out = append(out, database.WorkspaceBuildParameter{Name: d.Name, Value: value})
	}
	return out, errs
}

// validateParameterValue checks type, options, regex and min/max.
func validateParameterValue(d codersdk.TemplateVersionParameter, value string) error {
	if len(value) > 64<<10 {
		return fmt.Errorf("value too long (at most 64 KiB)")
	}
	if strings.ContainsRune(value, 0) {
		return fmt.Errorf("must not contain NUL characters")
	}
	var elems []string
	switch d.Type {
	case "number":
		n, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("must be a number, got %q", value)
		}
		if d.ValidationMin != nil && n < float64(*d.ValidationMin) {
			return fmt.Errorf("must be at least %d%s", *d.ValidationMin, customError(d))
		}
		if d.ValidationMax != nil && n > float64(*d.ValidationMax) {
			return fmt.Errorf("must be at most %d%s", *d.ValidationMax, customError(d))
		}
	case "bool":
		if value != "true" && value != "false" {
			return fmt.Errorf("must be true or false, got %q", value)
		}
	case "list(string)":
		if err := json.Unmarshal([]byte(value), &elems); err != nil {
			return fmt.Errorf(`must be a JSON array of strings, e.g. ["a","b"]`)
		}
	case "string", "":
	default:
		return fmt.Errorf("the template declares an unsupported type %q", d.Type)
	}
	if len(d.Options) > 0 {
		values := make([]string, 0, len(d.Options))
		for _, o := range d.Options {
			values = append(values, o.Value)
		}
		check := []string{value}
		if d.Type == "list(string)" {
			check = elems
		}
		for _, v := range check {
			if !slices.Contains(values, v) {
				return fmt.Errorf("%q is not one of the options %v", v, values)
			}
		}
	}
	if d.ValidationRegex != "" && (d.Type == "string" || d.Type == "") {
		re, err := regexp.Compile(d.ValidationRegex)
		if err != nil {
			return fmt.Errorf("the template's validation regex does not compile: %v", err)
		}
		if !re.MatchString(value) {
			return fmt.Errorf("must match %s%s", d.ValidationRegex, customError(d))
		}
	}
	return nil
}

func customError(d codersdk.TemplateVersionParameter) string {
	if d.ValidationError == "" {
		return ""
	}
	return ": " + d.ValidationError
}
