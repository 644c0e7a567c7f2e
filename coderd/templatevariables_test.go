package coderd_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// Template variable values flow push -> import job -> stored version ->
// every build of it; a new version of the template gets the active
// version's values for what it does not give; sensitive values are
// stored but never returned.
func TestTemplateVersionVariables(t *testing.T) {
	t.Parallel()
	owner, daemon, org, srv := setupQueue(t, nil)
	member, _ := coderdtest.CreateAnotherUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	declared := []codersdk.TemplateVersionVariable{
		{Name: "region", Description: "Where", Type: "string", Required: true},
		{Name: "replicas", Type: "number", DefaultValue: "1"},
		{Name: "token", Type: "string", Sensitive: true, Required: true},
	}
	push := func(template uuid.UUID, vals ...codersdk.VariableValue) (codersdk.TemplateVersion, *codersdk.AcquiredJob) {
		t.Helper()
		v := coderdtest.CreateTemplateVersionWith(t, owner, org, map[string]string{"main.tf": "# vars"},
			codersdk.CreateTemplateVersionRequest{TemplateID: template, UserVariableValues: vals})
		job := coderdtest.CompleteImportWith(t, daemon, codersdk.CompletedTemplateImport{
			StartResources: []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{Name: "main", OS: "linux", Arch: "amd64", Auth: "token"}}}},
			Variables:      declared,
		})
		return v, job
	}

	v1, job := push(uuid.Nil, codersdk.VariableValue{Name: "region", Value: "eu"}, codersdk.VariableValue{Name: "token", Value: "s3cret"})
	require.Equal(t, []codersdk.VariableValue{{Name: "region", Value: "eu"}, {Name: "token", Value: "s3cret"}}, job.TemplateImport.Variables)
	require.Empty(t, job.TemplateImport.PreviousVariables, "a version of no template has no previous values")
	want := []codersdk.TemplateVersionVariable{
		{Name: "region", Description: "Where", Type: "string", Value: "eu", Required: true},
		{Name: "replicas", Type: "number", DefaultValue: "1"},
		{Name: "token", Type: "string", Sensitive: true, Required: true},
	}
	got, err := owner.TemplateVersionVariables(ctx, v1.ID)
	require.NoError(t, err)
	require.Equal(t, want, got, "the sensitive value is not returned; replicas keeps its default")
	pushed, previous, err := srv.DB.GetTemplateVersionPendingVariables(ctx, v1.ID)
	require.NoError(t, err)
	require.Empty(t, append(pushed, previous...), "the values wait on the version only until the import stored them")

	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "vars", VersionID: v1.ID})
	require.NoError(t, err)
	got, err = member.TemplateVersionVariables(ctx, v1.ID)
	require.NoError(t, err)
	require.Equal(t, want, got, "members read a template's version variables as its other details")

	// A new version: region given again, token and the rest kept.
	v2, job := push(tmpl.ID, codersdk.VariableValue{Name: "region", Value: "us"}, codersdk.VariableValue{Name: "replicas", Value: "3"})
	require.Equal(t, []codersdk.VariableValue{{Name: "region", Value: "us"}, {Name: "replicas", Value: "3"}}, job.TemplateImport.Variables)
	require.Equal(t, []codersdk.VariableValue{{Name: "token", Value: "s3cret"}}, job.TemplateImport.PreviousVariables)
	got, err = owner.TemplateVersionVariables(ctx, v2.ID)
	require.NoError(t, err)
	require.Equal(t, "us", got[0].Value)
	require.Equal(t, "3", got[1].Value)
	require.Empty(t, got[2].Value)

	// Builds pass the values of the version they build.
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	build := coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, uuid.NewString())
	require.Equal(t, []codersdk.VariableValue{{Name: "region", Value: "eu"}, {Name: "token", Value: "s3cret"}}, build.WorkspaceBuild.Variables)
	b, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart, TemplateVersionID: v2.ID})
	require.NoError(t, err)
	build = coderdtest.CompleteBuild(t, daemon, b.ID, uuid.NewString())
	require.Equal(t, []codersdk.VariableValue{{Name: "region", Value: "us"}, {Name: "replicas", Value: "3"}, {Name: "token", Value: "s3cret"}}, build.WorkspaceBuild.Variables)
}

// The values of an import that failed or was canceled are not kept: they
// served that import only, and may be secrets.
func TestTemplateVersionVariablesDroppedWithTheImport(t *testing.T) {
	t.Parallel()
	owner, daemon, org, srv := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	push := func() codersdk.TemplateVersion {
		v := coderdtest.CreateTemplateVersionWith(t, owner, org, map[string]string{"main.tf": "# vars"},
			codersdk.CreateTemplateVersionRequest{UserVariableValues: []codersdk.VariableValue{{Name: "token", Value: "s3cret"}}})
		pushed, _, err := srv.DB.GetTemplateVersionPendingVariables(ctx, v.ID)
		require.NoError(t, err)
		require.Len(t, pushed, 1)
		return v
	}
	failed := push()
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.NoError(t, daemon.FailJob(ctx, job.JobID, codersdk.FailJobRequest{DaemonID: id, Error: "boom", ErrorCode: codersdk.JobErrorCodeRequiredTemplateVariables}))
	canceled := push()
	require.NoError(t, owner.CancelTemplateVersion(ctx, canceled.ID))
	for _, v := range []codersdk.TemplateVersion{failed, canceled} {
		pushed, previous, err := srv.DB.GetTemplateVersionPendingVariables(ctx, v.ID)
		require.NoError(t, err)
		require.Empty(t, append(pushed, previous...))
	}
}
