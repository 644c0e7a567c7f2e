package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/provisionerd/terraform"
	"github.com/opencoder/coder/testutil"
)

func TestDecodeVariablesFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     map[string]string
		err      string
	}{
		{"scalars keep their text", "region: eu\nreplicas: 3\nversion: 1.10\ndebug: true\nempty: \"\"\n", map[string]string{"region": "eu", "replicas": "3", "version": "1.10", "debug": "true", "empty": ""}, ""},
		{"lists and maps as JSON", "tags: [a, b]\nlabels:\n  team: dev\n", map[string]string{"tags": `["a","b"]`, "labels": `{"team":"dev"}`}, ""},
		{"empty file", "", map[string]string{}, ""},
		{"bad YAML", "region: [eu\n", nil, "not valid YAML"},
		{"not a map", "- region\n", nil, "must be a YAML map of variable name to value"},
		{"null", "region:\n", nil, `line 1: "region" has no value`},
		{"twice", "region: eu\nregion: us\n", nil, `line 2: "region" is given more than once`},
	} {
		got, err := decodeVariablesFile([]byte(tc.in))
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.name)
			continue
		}
		require.NoError(t, err, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
}

// variablesTemplate needs region (no default) and shows what Terraform got
// in the build's resource; api_token is sensitive.
const variablesTemplate = `
variable "region" {
  description = "Where workspaces run"
}

variable "tags" {
  type    = list(string)
  default = []
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = ""
}

resource "terraform_data" "home" {
  input = "region=${var.region} tags=${join(",", var.tags)} token_len=${length(var.api_token)}"
}
`

// coder templates push --variable/--variables-file against a real coderd
// and a real Terraform daemon: a required variable without a value fails
// naming the flag to set it; values given reach Terraform; a re-push
// keeps them; bad input is refused before anything is uploaded.
func TestTemplatesPushVariables(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, 3*time.Minute)
	startTerraformDaemon(t, ctx, e)

	dir := filepath.Join(t.TempDir(), "vars")
	writeFiles(t, dir, map[string]string{"main.tf": variablesTemplate, "vars.yaml": "region: eu-west\ntags: [a, b]\n", "bad.yaml": "region: [eu\n"})

	code, _, stderr := e.exec(t, ctx, nil, "templates", "push", "-d", dir, "-y")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `required template variable "region" not set (no default)`)
	require.Contains(t, stderr, "coder templates push --variable region=VALUE")

	code, stdout, stderr := e.exec(t, ctx, nil, "templates", "push", "-d", dir, "-y",
		"--variables-file", filepath.Join(dir, "vars.yaml"), "--variable", "api_token=tok-secret-12345", "--variable", "tags=[\"c\"]")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Template vars created")
	require.NotContains(t, stdout+stderr, "tok-secret-12345")
	vars := templateVariables(t, e)
	require.Equal(t, []codersdk.TemplateVersionVariable{
		{Name: "api_token", Type: "string", Sensitive: true},
		{Name: "region", Description: "Where workspaces run", Type: "string", Value: "eu-west", Required: true},
		{Name: "tags", Type: "list(string)", Value: `["c"]`, DefaultValue: "[]"},
	}, vars, "--variable wins over the file; the sensitive value is not shown")
	resources, err := e.owner.TemplateVersionResources(ctx, activeVersion(t, e))
	require.NoError(t, err)
	require.NotEmpty(t, resources, "the import planned the resource")

	// A re-push keeps every value, the sensitive one too.
	code, _, stderr = e.exec(t, ctx, nil, "templates", "push", "-d", dir, "-y", "-m", "again")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, vars, templateVariables(t, e))
	code, stdout, _ = e.exec(t, ctx, nil, "templates", "variables", "vars")
	require.Equal(t, 0, code)
	require.Regexp(t, `api_token\s+string\s+\(sensitive\)`, stdout)
	require.Regexp(t, `region\s+string\s+eu-west\s+required\s+Where workspaces run`, stdout)

	// A value for an undeclared variable fails the import, naming it.
	code, _, stderr = e.exec(t, ctx, nil, "templates", "push", "-d", dir, "-y", "--variable", "zone=b")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `the template declares no variable "zone"`)

	// Bad input is refused before the upload.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--variables-file", filepath.Join(dir, "bad.yaml")}, "--variables-file " + filepath.Join(dir, "bad.yaml") + ": not valid YAML"},
		{[]string{"--variables-file", filepath.Join(dir, "nope.yaml")}, "--variables-file: open"},
		{[]string{"--variable", "1st=x"}, `template variable name "1st" is not a Terraform identifier`},
		{[]string{"--variable", "region"}, `--variable: "region" is not of the form key=value`},
		{[]string{"--variable", "region=a", "--variable", "region=b"}, `--variable: "region" is given more than once`},
	} {
		code, _, stderr := e.exec(t, ctx, nil, append([]string{"templates", "push", "-d", dir, "-y"}, tc.args...)...)
		require.NotEqual(t, 0, code, tc.args)
		require.Contains(t, stderr, tc.want, tc.args)
		require.NotContains(t, stderr, "Importing", tc.args)
	}
}

func activeVersion(t *testing.T, e *testEnv) uuid.UUID {
	t.Helper()
	tmpl, err := e.owner.TemplateByName(testutil.Context(t, time.Minute), e.org, "vars")
	require.NoError(t, err)
	return tmpl.ActiveVersionID
}

func templateVariables(t *testing.T, e *testEnv) []codersdk.TemplateVersionVariable {
	t.Helper()
	code, stdout, stderr := e.exec(t, testutil.Context(t, time.Minute), nil, "templates", "variables", "vars", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var vars []codersdk.TemplateVersionVariable
	require.NoError(t, json.Unmarshal([]byte(stdout), &vars))
	return vars
}

// startTerraformDaemon runs a provisioner daemon with the real Terraform
// runner (no provider mirror: the templates these tests push need none)
// against e's coderd until the test ends.
func startTerraformDaemon(t *testing.T, ctx context.Context, e *testEnv) {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "terraformrc")
	require.NoError(t, os.WriteFile(rc, nil, 0o600))
	runner, err := provisionerd.NewTerraformRunner(ctx, terraform.Options{CacheDir: t.TempDir(), CLIConfigFile: rc, Logger: testutil.Logger(t)})
	require.NoError(t, err)
	d := provisionerd.New(e.daemon, provisionerd.Options{Name: "tf", Runner: runner, Logger: testutil.Logger(t)})
	d.Start()
	t.Cleanup(func() { _ = d.Close() })
}
