package codersdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MaxParameterValueSize is the largest parameter value a build accepts, in
// bytes. Values are stored as PostgreSQL text and passed to Terraform as
// variables, so a bound keeps a typo (a pasted file) from reaching either.
const MaxParameterValueSize = 64 << 10

// ValidateParameterValue checks one value against its definition: size and
// NUL bytes, the declared type, options, regex (for strings) and min/max
// (for numbers). It is the one copy of these rules: coderd applies it to
// every build and the CLI to answers typed at a prompt, so both reject the
// same values with the same words. The error reads after the parameter's
// name ("must be at most 8").
func ValidateParameterValue(d TemplateVersionParameter, value string) error {
	if len(value) > MaxParameterValueSize {
		return errors.New("value too long (at most 64 KiB)")
	}
	if strings.ContainsRune(value, 0) {
		return errors.New("must not contain NUL characters")
	}
	var elems []string
	switch d.Type {
	case "number":
		n, err := strconv.ParseFloat(value, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return fmt.Errorf("must be a number, got %q", value)
		}
		if d.ValidationMin != nil && n < float64(*d.ValidationMin) {
			return fmt.Errorf("must be at least %d%s", *d.ValidationMin, validationSuffix(d))
		}
		if d.ValidationMax != nil && n > float64(*d.ValidationMax) {
			return fmt.Errorf("must be at most %d%s", *d.ValidationMax, validationSuffix(d))
		}
	case "bool":
		if value != "true" && value != "false" {
			return fmt.Errorf("must be true or false, got %q", value)
		}
	case "list(string)":
		if err := json.Unmarshal([]byte(value), &elems); err != nil {
			return errors.New(`must be a JSON array of strings, e.g. ["a","b"]`)
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
			return fmt.Errorf("must match %s%s", d.ValidationRegex, validationSuffix(d))
		}
	}
	return nil
}

// ValidateParameterChange checks a new value against the previous build's
// for a number parameter with a monotonic validation. Both values are
// expected to have passed ValidateParameterValue.
func ValidateParameterChange(d TemplateVersionParameter, previous, value string) error {
	if d.ValidationMonotonic == "" || d.Type != "number" {
		return nil
	}
	a, _ := strconv.ParseFloat(previous, 64)
	b, _ := strconv.ParseFloat(value, 64)
	if (d.ValidationMonotonic == MonotonicOrderIncreasing && b < a) || (d.ValidationMonotonic == MonotonicOrderDecreasing && b > a) {
		return fmt.Errorf("must be monotonically %s (previous value %s)", d.ValidationMonotonic, previous)
	}
	return nil
}

// validationSuffix appends the template's own validation message.
func validationSuffix(d TemplateVersionParameter) string {
	if d.ValidationError == "" {
		return ""
	}
	return ": " + d.ValidationError
}
