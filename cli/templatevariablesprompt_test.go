package cli

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// askedTemplate has two required variables, one sensitive; the re-push
// adds a third (zone).
const askedTemplate = `
variable "region" {
  description = "Where workspaces run"
}

variable "token" {
  sensitive = true
}

resource "terraform_data" "home" {
  input = "region=${var.region} token_len=${length(var.token)}"
}
`

// On a terminal, coder templates push asks for the required variables the
// import found without a value (a sensitive one without echo) and imports
// again; a re-push asks only for a new one, the others being kept; with
// --yes it fails naming the flag, as off a terminal. Against a real coderd
// and Terraform daemon.
func TestTemplatesPushAsksForVariables(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	ctx := testutil.Context(t, 3*time.Minute)
	startTerraformDaemon(t, ctx, e)

	ptmx, tty, screen := watchTerminal(t)
	answer := func(inv *invocation, prompt, text string) {
		t.Helper()
		inv.waitFor(t, &inv.stderr, prompt)
		_, err := io.WriteString(ptmx, text+"\n")
		require.NoError(t, err)
	}
	// echoOff waits until the prompter turned the terminal's echo off, so
	// what is typed next is not shown.
	echoOff := func() {
		t.Helper()
		require.Eventually(t, func() bool {
			tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
			return err == nil && tio.Lflag&unix.ECHO == 0
		}, time.Minute, 10*time.Millisecond)
	}

	dir := filepath.Join(t.TempDir(), "asked")
	writeFiles(t, dir, map[string]string{"main.tf": askedTemplate})
	inv := e.start(ctx, tty, "templates", "push", "-d", dir)
	answer(inv, "[y/N] ", "y")
	inv.waitFor(t, &inv.stderr, "The template needs a value for 2 variable(s) without a default.")
	answer(inv, "region: ", "") // empty: asked again
	answer(inv, "A value is required.\nregion: ", "eu-north")
	inv.waitFor(t, &inv.stderr, "token (hidden): ")
	echoOff()
	_, err := io.WriteString(ptmx, "tok-secret-777\n")
	require.NoError(t, err)
	require.Equal(t, 0, inv.wait(t, ctx), inv.stderr.String())
	stderr := inv.stderr.String()
	require.Contains(t, stderr, "region (string)\n  Where workspaces run\n")
	require.Contains(t, stderr, "token (string, sensitive)\n")
	require.Contains(t, stderr, "Importing asked again with those values.")
	require.Contains(t, inv.stdout.String(), "Template asked created")
	require.NotContains(t, screen.String()+stderr+inv.stdout.String(), "tok-secret-777")
	require.Contains(t, screen.String(), "eu-north", "a value that is not sensitive is echoed")

	vars := func() []codersdk.TemplateVersionVariable {
		t.Helper()
		tmpl, err := e.owner.TemplateByName(ctx, e.org, "asked")
		require.NoError(t, err)
		vars, err := e.owner.TemplateVersionVariables(ctx, tmpl.ActiveVersionID)
		require.NoError(t, err)
		return vars
	}
	require.Equal(t, []codersdk.TemplateVersionVariable{
		{Name: "region", Description: "Where workspaces run", Type: "string", Value: "eu-north", Required: true},
		{Name: "token", Type: "string", Required: true, Sensitive: true},
	}, vars())

	// A new required variable: only it is asked for; the others are kept.
	writeFiles(t, dir, map[string]string{"main.tf": askedTemplate + "variable \"zone\" {\n  type = number\n}\n"})
	inv = e.start(ctx, tty, "templates", "push", "-d", dir)
	answer(inv, "[y/N] ", "y")
	inv.waitFor(t, &inv.stderr, "The template needs a value for 1 variable(s) without a default.")
	answer(inv, "zone: ", "3")
	require.Equal(t, 0, inv.wait(t, ctx), inv.stderr.String())
	stderr = inv.stderr.String()
	require.Contains(t, stderr, "A Terraform value of type number")
	require.NotContains(t, stderr, "region: ")
	require.NotContains(t, stderr, "token (hidden)")
	require.Contains(t, inv.stdout.String(), "Template asked updated")
	got := vars()
	require.Len(t, got, 3)
	require.Equal(t, "eu-north", got[0].Value, "kept from the active version")
	require.Equal(t, codersdk.TemplateVersionVariable{Name: "zone", Type: "number", Value: "3", Required: true}, got[2])

	// --yes on a terminal: nothing is asked, the error names the flag.
	writeFiles(t, dir, map[string]string{"main.tf": askedTemplate + "variable \"zone\" {}\nvariable \"rack\" {}\n"})
	code, _, stderr := e.exec(t, ctx, tty, "templates", "push", "-d", dir, "-y")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "coder templates push --variable rack=VALUE")
	require.NotContains(t, stderr, "rack: ")
}
