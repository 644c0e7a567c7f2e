package provisionerd_test

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/testutil"
)

// variablesTemplate has a required variable and a sensitive one; the
// state shows what Terraform got (the sensitive one by its length only),
// and a local-exec prints the sensitive value, which must be redacted.
var variablesTemplate = map[string]string{"main.tf": `
variable "region" {
  description = "Where workspaces run"
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = ""
}

resource "terraform_data" "home" {
  input = "region=${var.region} token_len=${length(var.api_token)}"
  provisioner "local-exec" {
    command = "echo token=${nonsensitive(var.api_token)}"
  }
}
`}

const e2eSecret = "tok-5ecret-value-123"

// pushWithVariables uploads files and queues their import with values.
func (dep *deployment) pushWithVariables(t *testing.T, files map[string]string, template uuid.UUID, vals ...codersdk.VariableValue) codersdk.TemplateVersion {
	t.Helper()
	ctx := e2eContext(t)
	up, err := dep.owner.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, files)))
	require.NoError(t, err)
	v, err := dep.owner.CreateTemplateVersion(ctx, dep.org, codersdk.CreateTemplateVersionRequest{
		StorageMethod: "file", FileID: up.ID, Provisioner: "terraform", TemplateID: template, UserVariableValues: vals,
	})
	require.NoError(t, err)
	return v
}

// Template variables end to end, through coderd and the real Terraform
// runner: a required variable without a value fails the import naming it
// and the fix; values given at push reach the import and every build of
// the version; a new version of the template keeps them unless given
// again; the sensitive value never appears in the API or the logs.
func TestDaemonTemplateVariables(t *testing.T) {
	t.Parallel()
	dep := newDeployment(t, nil)
	startDaemon(t, daemonClient(dep.srv.URL), provisionerd.Options{Runner: newTerraformRunner(t)})
	ctx := e2eContext(t)

	missing := dep.pushWithVariables(t, variablesTemplate, uuid.Nil)
	job := dep.awaitVersionJob(t, missing)
	require.Equal(t, codersdk.ProvisionerJobFailed, job.Status)
	require.Equal(t, codersdk.JobErrorCodeRequiredTemplateVariables, job.ErrorCode)
	require.Contains(t, job.Error, `required template variable "region" not set (no default)`)
	require.Contains(t, job.Error, "coder templates push --variable region=VALUE")

	v1 := dep.pushWithVariables(t, variablesTemplate, uuid.Nil,
		codersdk.VariableValue{Name: "region", Value: "eu-west"}, codersdk.VariableValue{Name: "api_token", Value: e2eSecret})
	job = dep.awaitVersionJob(t, v1)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)
	vars, err := dep.owner.TemplateVersionVariables(ctx, v1.ID)
	require.NoError(t, err)
	require.Equal(t, []codersdk.TemplateVersionVariable{
		{Name: "api_token", Type: "string", Sensitive: true},
		{Name: "region", Description: "Where workspaces run", Type: "string", Value: "eu-west", Required: true},
	}, vars, "the sensitive value is never returned")
	require.NotContains(t, dep.versionLogs(t, v1.ID), e2eSecret)

	ws := dep.createWorkspace(t, v1)
	build := dep.awaitBuildJob(t, ws.LatestBuild.ID)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, build.Status, "error: %s", build.Error)
	require.Contains(t, string(dep.buildState(t, build.ID)), "region=eu-west token_len=20")
	logs := dep.buildLogs(t, ws.LatestBuild.ID)
	require.Contains(t, logs, "token=[REDACTED]")
	require.NotContains(t, logs, e2eSecret)

	// A new version of the template keeps both values (the sensitive one
	// too) without being given them; its builds use them.
	v2 := dep.pushWithVariables(t, variablesTemplate, ws.TemplateID)
	job = dep.awaitVersionJob(t, v2)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)
	vars, err = dep.owner.TemplateVersionVariables(ctx, v2.ID)
	require.NoError(t, err)
	require.Equal(t, "eu-west", vars[1].Value)
	b, err := dep.owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart, TemplateVersionID: v2.ID})
	require.NoError(t, err)
	build = dep.awaitBuildJob(t, b.ID)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, build.Status, "error: %s", build.Error)
	require.Contains(t, string(dep.buildState(t, build.ID)), "region=eu-west token_len=20")

	// A value for a variable the template does not declare fails the
	// import, naming it.
	bad := dep.pushWithVariables(t, variablesTemplate, ws.TemplateID, codersdk.VariableValue{Name: "zone", Value: "b"})
	job = dep.awaitVersionJob(t, bad)
	require.Equal(t, codersdk.ProvisionerJobFailed, job.Status)
	require.Equal(t, codersdk.JobErrorCodeTemplateVariables, job.ErrorCode)
	require.Contains(t, job.Error, `the template declares no variable "zone"`)
}
