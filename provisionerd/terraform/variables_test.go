package terraform

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/templates"
	"github.com/opencoder/coder/testutil"
)

// variablesTemplate declares one variable of each kind and shows their
// values in a coder_metadata item, so a test sees what Terraform got. The
// local-exec prints the sensitive value, which the runner must redact.
const variablesTemplate = providerBlock + `
variable "region" {
  description = "Where workspaces run"
}

variable "replicas" {
  type    = number
  default = 1
}

variable "tags" {
  type    = list(string)
  default = ["a", "b"]
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = ""
}

resource "terraform_data" "box" {
  input = "box"
  provisioner "local-exec" {
    command = "echo token=${nonsensitive(var.api_token)}"
  }
}

resource "coder_metadata" "box" {
  resource_id = terraform_data.box.id
  item {
    key   = "seen"
    value = "${var.region}/${var.replicas}/${join(",", var.tags)}/${length(var.api_token)}"
  }
}
`

func metadataValue(t *testing.T, resources []codersdk.ProvisionerResource, key string) string {
	t.Helper()
	for _, r := range resources {
		for _, m := range r.Metadata {
			if m.Key == key {
				return m.Value
			}
		}
	}
	t.Fatalf("no metadata item %q in %+v", key, resources)
	return ""
}

// A real import reports the declared variables, passes the values given
// (typed ones read as -var reads them), and a build sees them too; the
// sensitive value never reaches the logs.
func TestImportAndBuildVariables(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	ctx := testutil.Context(t, testutil.WaitLong)
	src := testutil.Tar(t, map[string]string{"main.tf": variablesTemplate})
	const secret = "s3cr3t-token-value"
	logs := newLogRecorder(t)
	res, err := r.Import(ctx, ImportRequest{
		Source:            src,
		Variables:         map[string]string{"region": "eu-west", "replicas": "3", "api_token": secret},
		PreviousVariables: map[string]string{"tags": `["x", "y"]`, "gone": "dropped"},
		Logf:              logs.Logf,
	})
	if err != nil {
		logs.dump()
		t.Fatalf("import: %v", err)
	}
	require.Equal(t, []codersdk.TemplateVersionVariable{
		{Name: "api_token", Type: "string", Sensitive: true},
		{Name: "region", Description: "Where workspaces run", Type: "string", Required: true},
		{Name: "replicas", Type: "number", DefaultValue: "1"},
		{Name: "tags", Type: "list(string)", DefaultValue: `["a","b"]`},
	}, res.Variables)
	require.Equal(t, "eu-west/3/x,y/18", metadataValue(t, res.StartResources, "seen"))
	require.Contains(t, logs.text(), `"gone" of the previous version is no longer declared`)
	require.NotContains(t, logs.text(), secret)

	blogs := newLogRecorder(t)
	meta := testMetadata(TransitionStart)
	build, err := r.Build(ctx, BuildRequest{Source: src, Metadata: meta, Variables: map[string]string{"region": "us", "api_token": secret}, Logf: blogs.Logf})
	if err != nil {
		blogs.dump()
		t.Fatalf("build: %v", err)
	}
	require.Equal(t, "us/1/a,b/18", metadataValue(t, build.Resources, "seen"))
	require.Contains(t, blogs.text(), "token=[REDACTED]", "the local-exec ran and its output was redacted")
	require.NotContains(t, blogs.text(), secret)
	entries, err := os.ReadDir(r.workDir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.HasSuffix(e.Name(), ".tfvars"), "the variables file is removed: %s", e.Name())
	}
}

// Values that cannot be used fail the import before Terraform runs, with
// a message naming the variable and the fix.
func TestImportVariablesErrors(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	src := testutil.Tar(t, map[string]string{"main.tf": variablesTemplate})
	for _, tc := range []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"required without value", nil, []string{`required template variable "region" not set (no default)`, "coder templates push --variable region=VALUE"}},
		{"unknown", map[string]string{"region": "eu", "zone": "b"}, []string{`declares no variable "zone"`}},
		{"not a number", map[string]string{"region": "eu", "replicas": "many"}, []string{`"replicas" (type number): "many" is not a number literal`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, testutil.WaitLong)
			logs := newLogRecorder(t)
			_, err := r.Import(ctx, ImportRequest{Source: src, Variables: tc.vars, Logf: logs.Logf})
			var verr *VariablesError
			require.True(t, errors.As(err, &verr), "%v", err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
			require.NotContains(t, logs.text(), "Initializing", "nothing ran")
		})
	}
}

// readVariables follows Terraform's rules: .tf and .tf.json files of the
// root module, override files merged in, tfvars files count as values.
func TestReadVariables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"a.tf": `variable "plain" {}` + "\n" + `variable "nullable_null" { default = null }` + "\n" + `variable "strict_null" {
  default  = null
  nullable = false
}
variable "legacy" {
  type    = "string"
  default = "l"
}
variable "obj" {
  type    = object({ a = number })
  default = { a = 1 }
  validation {
    condition     = var.obj.a > 0
    error_message = "positive"
  }
}`,
		"b.tf.json":        `{"variable": {"js": {"type": "map(string)", "description": "from json", "default": {"k": "v"}}}}`,
		"a_override.tf":    `variable "plain" { default = "over" }`,
		"terraform.tfvars": `strict_null = "x"`,
		"sub/ignored.tf":   `variable "in_module" {}`,
		".hidden.tf":       `variable "hidden" {}`,
		"a.tf~":            `variable "backup" {}`,
	}
	for name, body := range files {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	got, err := readVariables(dir)
	require.NoError(t, err)
	var names []string
	byName := map[string]codersdk.TemplateVersionVariable{}
	for _, v := range got {
		names = append(names, v.Name)
		byName[v.Name] = v.TemplateVersionVariable
	}
	require.Equal(t, []string{"js", "legacy", "nullable_null", "obj", "plain", "strict_null"}, names)
	require.Equal(t, codersdk.TemplateVersionVariable{Name: "plain", Type: "string", DefaultValue: "over"}, byName["plain"], "the override's default")
	require.False(t, byName["nullable_null"].Required)
	require.True(t, byName["strict_null"].Required)
	require.Equal(t, "string", byName["legacy"].Type)
	require.Equal(t, codersdk.TemplateVersionVariable{Name: "obj", Type: "object({ a = number })", DefaultValue: `{"a":1}`}, byName["obj"])
	require.Equal(t, codersdk.TemplateVersionVariable{Name: "js", Type: "map(string)", Description: "from json", DefaultValue: `{"k":"v"}`}, byName["js"])

	tv, err := resolveVariables(dir, nil, nil, true, t.Logf)
	require.NoError(t, err, "strict_null is set by terraform.tfvars")
	require.Empty(t, tv.values)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.tf"), []byte(`variable "plain" {}`), 0o600))
	_, err = readVariables(dir)
	require.ErrorContains(t, err, `variable "plain" is declared twice`)
}

// Every shipped template's variable blocks read as Terraform reads them,
// so their imports get past the variable checks (gcp-linux's project_id
// has no default: its import needs --variable project_id=...).
func TestShippedTemplatesVariables(t *testing.T) {
	t.Parallel()
	required := map[string][]string{"gcp-linux": {"project_id"}}
	for _, tmpl := range templates.List() {
		dir := t.TempDir()
		require.NoError(t, templates.Write(tmpl.ID, dir), tmpl.ID)
		vars, err := readVariables(dir)
		require.NoError(t, err, tmpl.ID)
		var req []string
		for _, v := range vars {
			if v.Required {
				req = append(req, v.Name)
			}
		}
		require.Equal(t, required[tmpl.ID], req, tmpl.ID)
		tv, err := resolveVariables(dir, nil, nil, true, t.Logf)
		if len(req) > 0 {
			var verr *VariablesError
			require.True(t, errors.As(err, &verr), "%s: %v", tmpl.ID, err)
			continue
		}
		require.NoError(t, err, tmpl.ID)
		require.Nil(t, tv.parseErr, tmpl.ID)
	}
}
