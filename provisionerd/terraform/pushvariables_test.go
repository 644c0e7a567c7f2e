package terraform

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

// PushVariables is the import's reader: a variable the template's own
// tfvars set needs no value at push; one without a default does.
func TestPushVariables(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"main.tf":          "variable \"region\" {\n  description = \"Where\"\n}\nvariable \"zone\" {}\nvariable \"token\" {\n  sensitive = true\n}\nvariable \"size\" {\n  type    = number\n  default = 2\n}\n",
		"terraform.tfvars": "zone = \"b\"\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	got, err := PushVariables(dir)
	require.NoError(t, err)
	require.Equal(t, []codersdk.TemplateVersionVariable{
		{Name: "region", Description: "Where", Type: "string", Required: true},
		{Name: "size", Type: "number", DefaultValue: "2"},
		{Name: "token", Type: "string", Required: true, Sensitive: true},
		{Name: "zone", Type: "string"},
	}, got)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "bad.tf"), []byte("variable \"x\" {"), 0o600))
	_, err = PushVariables(dir)
	require.ErrorIs(t, err, ErrInvalidVariableBlock)
}
