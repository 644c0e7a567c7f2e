package codersdk_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

func int32p(v int32) *int32 { return &v }

func TestValidateParameterValue(t *testing.T) {
	t.Parallel()
	str := codersdk.TemplateVersionParameter{Name: "note", Type: "string"}
	untyped := codersdk.TemplateVersionParameter{Name: "note"}
	num := codersdk.TemplateVersionParameter{Name: "cpus", Type: "number", ValidationMin: int32p(1), ValidationMax: int32p(8), ValidationError: "1 to 8 cores"}
	minOnly := codersdk.TemplateVersionParameter{Name: "disk", Type: "number", ValidationMin: int32p(10)}
	boolean := codersdk.TemplateVersionParameter{Name: "debug", Type: "bool"}
	list := codersdk.TemplateVersionParameter{Name: "extras", Type: "list(string)"}
	listOpts := codersdk.TemplateVersionParameter{Name: "extras", Type: "list(string)", Options: []codersdk.TemplateVersionParameterOption{{Value: "git"}, {Value: "vim"}}}
	opts := codersdk.TemplateVersionParameter{Name: "region", Type: "string", Options: []codersdk.TemplateVersionParameterOption{{Name: "Europe", Value: "eu"}, {Name: "America", Value: "us"}}}
	regex := codersdk.TemplateVersionParameter{Name: "image", Type: "string", ValidationRegex: "^[a-z]+$", ValidationError: "lower-case letters only"}
	regexNoMsg := codersdk.TemplateVersionParameter{Name: "image", ValidationRegex: "^[a-z]+$"}
	badRegex := codersdk.TemplateVersionParameter{Name: "image", Type: "string", ValidationRegex: "([a-z"}
	numRegex := codersdk.TemplateVersionParameter{Name: "n", Type: "number", ValidationRegex: "([a-z"} // regexes apply to strings only
	unknownType := codersdk.TemplateVersionParameter{Name: "m", Type: "map(string)"}

	cases := []struct {
		name  string
		def   codersdk.TemplateVersionParameter
		value string
		err   string // exact message; "" = valid
	}{
		{"string", str, "anything at all", ""},
		{"string empty", str, "", ""},
		{"no type is a string", untyped, "x", ""},
		{"size at the limit", str, strings.Repeat("a", codersdk.MaxParameterValueSize), ""},
		{"size over the limit", str, strings.Repeat("a", codersdk.MaxParameterValueSize+1), "value too long (at most 64 KiB)"},
		{"size applies to every type", boolean, strings.Repeat("a", codersdk.MaxParameterValueSize+1), "value too long (at most 64 KiB)"},
		{"NUL", str, "a\x00b", "must not contain NUL characters"},
		{"NUL in a number", num, "4\x00", "must not contain NUL characters"},

		{"number", num, "4", ""},
		{"number fraction", num, "4.5", ""},
		{"number at min", num, "1", ""},
		{"number at max", num, "8", ""},
		{"number below min", num, "0", "must be at least 1: 1 to 8 cores"},
		{"number above max", num, "9", "must be at most 8: 1 to 8 cores"},
		{"number min without message", minOnly, "9", "must be at least 10"},
		{"number no max", minOnly, "100000", ""},
		{"not a number", num, "many", `must be a number, got "many"`},
		{"NaN", num, "NaN", `must be a number, got "NaN"`},
		{"Inf", num, "Inf", `must be a number, got "Inf"`},
		{"number empty", num, "", `must be a number, got ""`},
		{"number ignores regex", numRegex, "3", ""},

		{"bool true", boolean, "true", ""},
		{"bool false", boolean, "false", ""},
		{"bool yes", boolean, "yes", `must be true or false, got "yes"`},
		{"bool case", boolean, "True", `must be true or false, got "True"`},

		{"list", list, `["a","b"]`, ""},
		{"list empty", list, `[]`, ""},
		{"list not JSON", list, "a,b", `must be a JSON array of strings, e.g. ["a","b"]`},
		{"list of numbers", list, `[1,2]`, `must be a JSON array of strings, e.g. ["a","b"]`},
		{"list options", listOpts, `["git","vim"]`, ""},
		{"list option missing", listOpts, `["git","emacs"]`, `"emacs" is not one of the options [git vim]`},

		{"option", opts, "eu", ""},
		{"option by name is not a value", opts, "Europe", `"Europe" is not one of the options [eu us]`},
		{"not an option", opts, "mars", `"mars" is not one of the options [eu us]`},

		{"regex", regex, "ubuntu", ""},
		{"regex mismatch", regex, "Ubuntu", "must match ^[a-z]+$: lower-case letters only"},
		{"regex mismatch without message", regexNoMsg, "Ubuntu", "must match ^[a-z]+$"},
		{"invalid regex", badRegex, "ubuntu", "the template's validation regex does not compile: error parsing regexp: missing closing ]: `[a-z`"},

		{"unsupported type", unknownType, "x", `the template declares an unsupported type "map(string)"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := codersdk.ValidateParameterValue(c.def, c.value)
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, c.err)
		})
	}
}

func TestValidateParameterChange(t *testing.T) {
	t.Parallel()
	inc := codersdk.TemplateVersionParameter{Name: "disk", Type: "number", ValidationMonotonic: codersdk.MonotonicOrderIncreasing}
	dec := codersdk.TemplateVersionParameter{Name: "ttl", Type: "number", ValidationMonotonic: codersdk.MonotonicOrderDecreasing}
	plain := codersdk.TemplateVersionParameter{Name: "cpus", Type: "number"}
	strMono := codersdk.TemplateVersionParameter{Name: "s", Type: "string", ValidationMonotonic: codersdk.MonotonicOrderIncreasing}
	cases := []struct {
		name            string
		def             codersdk.TemplateVersionParameter
		previous, value string
		err             string
	}{
		{"increasing grows", inc, "10", "20", ""},
		{"increasing same", inc, "10", "10", ""},
		{"increasing shrinks", inc, "10", "5", "must be monotonically increasing (previous value 10)"},
		{"decreasing shrinks", dec, "10", "5", ""},
		{"decreasing grows", dec, "10", "11", "must be monotonically decreasing (previous value 10)"},
		{"not monotonic", plain, "10", "1", ""},
		{"strings are never monotonic", strMono, "b", "a", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := codersdk.ValidateParameterChange(c.def, c.previous, c.value)
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, c.err)
		})
	}
}
