package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

func TestParseKeyValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, key, value string
		err            bool
	}{
		{in: "region=eu", key: "region", value: "eu"},
		{in: "url=https://x.example/?a=b&c=d", key: "url", value: "https://x.example/?a=b&c=d"},
		{in: "empty=", key: "empty", value: ""},
		{in: " spaced =v ", key: "spaced", value: "v "},
		{in: "list=[\"a\",\"b=c\"]", key: "list", value: `["a","b=c"]`},
		{in: "novalue", err: true},
		{in: "=v", err: true},
		{in: "", err: true},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			t.Parallel()
			k, v, err := parseKeyValue(c.in)
			if c.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.key, k)
			require.Equal(t, c.value, v)
		})
	}
}

func TestParseKeyValues(t *testing.T) {
	t.Parallel()
	got, err := parseKeyValues("tag", []string{"os=linux", "arch=amd64", "x=a=b"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"os": "linux", "arch": "amd64", "x": "a=b"}, got)
	_, err = parseKeyValues("tag", []string{"os=linux", "os=darwin"})
	require.ErrorContains(t, err, `"os" is given more than once`)
	_, err = parseKeyValues("parameter", []string{"bad"})
	require.ErrorContains(t, err, "--parameter")
}

func TestDecodeParameterFile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   string
		want map[string]string
		err  string
	}{
		{name: "yaml", in: "region: eu\ncpus: 4\ndebug: true\nversion: 1.10\nzip: 010\n", want: map[string]string{"region": "eu", "cpus": "4", "debug": "true", "version": "1.10", "zip": "010"}},
		{name: "json", in: `{"region": "us", "cpus": 2, "flags": ["a", "b"]}`, want: map[string]string{"region": "us", "cpus": "2", "flags": `["a","b"]`}},
		{name: "yaml list and null", in: "flags:\n  - x\n  - y=z\nempty: ~\nquoted: \"a: b\"\n", want: map[string]string{"flags": `["x","y=z"]`, "empty": "", "quoted": "a: b"}},
		{name: "multiline", in: "script: |\n  echo hi\n  echo there\n", want: map[string]string{"script": "echo hi\necho there\n"}},
		{name: "empty file", in: "", want: map[string]string{}},
		{name: "not a map", in: "- a\n- b\n", err: "must be a map"},
		{name: "nested map", in: "a:\n  b: c\n", err: `"a"`},
		{name: "duplicate", in: "a: 1\na: 2\n", err: "more than once"},
		{name: "broken", in: "a: [1,\n", err: "not valid YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := decodeParameterFile([]byte(c.in))
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
}

func TestParameterFlagsCollect(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "params.yaml")
	require.NoError(t, os.WriteFile(file, []byte("region: eu\nimage: debian\n"), 0o600))
	p := parameterFlags{values: []string{"region=us", "extra=a=b"}, file: file}
	got, err := p.collect()
	require.NoError(t, err)
	// Flags win over the file.
	require.Equal(t, map[string]string{"region": "us", "image": "debian", "extra": "a=b"}, got)

	p = parameterFlags{file: filepath.Join(t.TempDir(), "missing.yaml")}
	_, err = p.collect()
	require.ErrorContains(t, err, "read parameter file")
}

func int32p(v int32) *int32 { return &v }

// testDefs covers each parameter type and validation.
var testDefs = []codersdk.TemplateVersionParameter{
	{Name: "region", DisplayName: "Region", Type: "string", DefaultValue: "eu", Description: "Where it runs.", Options: []codersdk.TemplateVersionParameterOption{{Name: "Europe", Value: "eu"}, {Name: "America", Value: "us"}}},
	{Name: "cpus", Type: "number", DefaultValue: "2", ValidationMin: int32p(1), ValidationMax: int32p(8)},
	{Name: "image", Type: "string", Required: true, ValidationRegex: "^[a-z]+$", ValidationError: "lower-case letters only", DescriptionPlaintext: "Base image."},
	{Name: "debug", Type: "bool", DefaultValue: "false"},
	{Name: "extras", Type: "list(string)", DefaultValue: "[]", Options: []codersdk.TemplateVersionParameterOption{{Value: "git"}, {Value: "vim"}}},
}

func TestResolveParametersNonInteractive(t *testing.T) {
	t.Parallel()
	in := newPrompter(strings.NewReader(""), io.Discard)
	got, err := resolveParameters(testDefs, map[string]string{"image": "ubuntu", "region": "us", "bogus": "x"}, in, io.Discard)
	require.NoError(t, err)
	// Given values only (the server applies defaults), in definition
	// order; unknown names are passed on for the server to reject.
	require.Equal(t, []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "region", Value: "us"}, {Name: "bogus", Value: "x"}}, got)

	_, err = resolveParameters(testDefs, map[string]string{"region": "us"}, in, io.Discard)
	require.ErrorContains(t, err, "missing values for required parameters")
	require.ErrorContains(t, err, "image (Base image.)")
	require.NotContains(t, err.Error(), "region")
}

// TestPromptRejectsWhatServerRejects answers a prompt with values coderd
// refuses (the messages are the server's, codersdk.ValidateParameterValue):
// each is asked again, so a build never fails on a typo that the CLI let
// through. The CLI once skipped the size, NUL and type checks and ignored
// a regex that does not compile.
func TestPromptRejectsWhatServerRejects(t *testing.T) {
	t.Parallel()
	byName := map[string]codersdk.TemplateVersionParameter{}
	for _, d := range testDefs {
		byName[d.Name] = d
	}
	note := codersdk.TemplateVersionParameter{Name: "note", Type: "string"}
	cases := []struct {
		name        string
		def         codersdk.TemplateVersionParameter
		bad, good   string // good "" = no value passes: the prompt runs out of input
		wantInvalid string
	}{
		{"not an option", byName["region"], "mars", "eu", `"mars" is not one of the options [eu us]`},
		{"above max", byName["cpus"], "9", "8", "must be at most 8"},
		{"below min", byName["cpus"], "0", "1", "must be at least 1"},
		{"not a number", byName["cpus"], "many", "2", `must be a number, got "many"`},
		{"NaN", byName["cpus"], "NaN", "2", `must be a number, got "NaN"`},
		{"regex", byName["image"], "Ubuntu", "ubuntu", "must match ^[a-z]+$: lower-case letters only"},
		{"bool", byName["debug"], "maybe", "no", `must be true or false, got "maybe"`},
		{"list option", byName["extras"], "emacs", "git", `"emacs" is not one of the options [git vim]`},
		{"NUL", note, "a\x00b", "ab", "must not contain NUL characters"},
		{"too long", note, strings.Repeat("n", codersdk.MaxParameterValueSize+1), "short", "value too long (at most 64 KiB)"},
		{"regex that does not compile", codersdk.TemplateVersionParameter{Name: "image", Type: "string", ValidationRegex: "([a-z"}, "ubuntu", "",
			"the template's validation regex does not compile"},
		{"unsupported type", codersdk.TemplateVersionParameter{Name: "m", Type: "map(string)"}, "x", "", `the template declares an unsupported type "map(string)"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			input := c.bad + "\n"
			if c.good != "" {
				input += c.good + "\n"
			}
			var out bytes.Buffer
			got, err := askParameter(newPrompter(strings.NewReader(input), &out), &out, c.def)
			require.Contains(t, out.String(), "Invalid: "+c.wantInvalid)
			if c.good == "" {
				require.Error(t, err, "no answer is valid")
				return
			}
			require.NoError(t, err)
			require.NoError(t, codersdk.ValidateParameterValue(c.def, got))
		})
	}
}

// TestResolveParametersPrompt answers the prompts through a real
// pseudo-terminal, with mistakes that must be asked again.
func TestResolveParametersPrompt(t *testing.T) {
	t.Parallel()
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	drained := make(chan struct{})
	go func() { // the terminal echoes what is typed; nobody reads it
		defer close(drained)
		_, _ = io.Copy(io.Discard, ptmx)
	}()
	t.Cleanup(func() {
		_ = tty.Close()
		_ = ptmx.Close()
		<-drained
	})
	// Order: cpus, debug, extras, image, region (no Order set: by name).
	answers := []string{
		"9", "4", // cpus: above max, then fine
		"yes",                  // debug
		"git, vim",             // extras, comma-separated
		"", "Ubuntu", "ubuntu", // image: required, regex, fine
		"America", // region by option name
	}
	_, err = ptmx.Write([]byte(strings.Join(answers, "\n") + "\n"))
	require.NoError(t, err)

	var out bytes.Buffer
	in := newPrompter(tty, &out)
	require.True(t, in.interactive())
	got, err := resolveParameters(testDefs, map[string]string{}, in, &out)
	require.NoError(t, err, out.String())
	require.Equal(t, []codersdk.WorkspaceBuildParameter{
		{Name: "cpus", Value: "4"}, {Name: "debug", Value: "true"}, {Name: "extras", Value: `["git","vim"]`},
		{Name: "image", Value: "ubuntu"}, {Name: "region", Value: "us"},
	}, got)
	text := out.String()
	require.Contains(t, text, "Region (region)")
	require.Contains(t, text, "Where it runs.")
	require.Contains(t, text, "us (America)")
	require.Contains(t, text, "A number from 1 to 8.")
	require.Contains(t, text, "Invalid: must be at most 8")
	require.Contains(t, text, "A value is required.")
	require.Contains(t, text, "lower-case letters only")
}

func TestAPIErrorMessage(t *testing.T) {
	t.Parallel()
	sdkErr := &codersdk.Error{Response: codersdk.Response{Message: "Invalid parameter values.", Validations: []codersdk.ValidationError{
		{Field: "rich_parameter_values[1](region)", Detail: `"mars" is not one of the options [eu us]`},
		{Field: "rich_parameter_values(image)", Detail: "is required (no default value)"},
		{Field: "name", Detail: "too long"},
	}}}
	err := wrapAPI("create workspace dev", sdkErr)
	require.Equal(t, "create workspace dev: Invalid parameter values.\n"+
		"  parameter region: \"mars\" is not one of the options [eu us]\n"+
		"  parameter image: is required (no default value)\n"+
		"  name: too long", err.Error())
	var got *codersdk.Error
	require.ErrorAs(t, err, &got)
}

func TestLogRenderer(t *testing.T) {
	t.Parallel()
	lines := []codersdk.ProvisionerJobLog{
		{ID: 1, Stage: "Planning", Level: codersdk.ProvisionerLogLevelInfo, Output: "plan line\n"},
		{ID: 2, Stage: "Planning", Level: codersdk.ProvisionerLogLevelWarn, Output: "careful"},
		{ID: 3, Stage: "Applying", Level: codersdk.ProvisionerLogLevelError, Output: "boom"},
	}
	var plain bytes.Buffer
	p := &logRenderer{w: &plain}
	for _, l := range lines {
		p.line(l)
	}
	require.Equal(t, "==> Planning\nplan line\ncareful\n==> Applying\nboom\n", plain.String())

	var colored bytes.Buffer
	p = &logRenderer{w: &colored, color: true}
	for _, l := range lines {
		p.line(l)
	}
	require.Contains(t, colored.String(), ansiYellow+"careful"+ansiReset)
	require.Contains(t, colored.String(), ansiRed+"boom"+ansiReset)
	require.Contains(t, colored.String(), ansiBold+"==> Applying"+ansiReset)
}
