package coderd

import (
	"fmt"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
)

// resolveBuildParameters validates a build's parameter values against the
// version's definitions (with codersdk's rules, which the CLI shares), field
// by field, and returns the full set to store:
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
		if err := codersdk.ValidateParameterValue(d, value); err != nil {
			fail(i, d.Name, "%s", err.Error())
			continue
		}
		if hasPrev {
			if err := codersdk.ValidateParameterChange(d, pv, value); err != nil {
				fail(i, d.Name, "%s", err.Error())
				continue
			}
		}
		out = append(out, database.WorkspaceBuildParameter{Name: d.Name, Value: value})
	}
	return out, errs
}
