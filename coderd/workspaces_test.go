package coderd_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

func int32p(v int32) *int32 { return &v }

var testParams = []codersdk.TemplateVersionParameter{
	{Name: "region", Type: "string", DefaultValue: "eu", Options: []codersdk.TemplateVersionParameterOption{{Name: "EU", Value: "eu"}, {Name: "US", Value: "us"}}},
	{Name: "cpus", Type: "number", DefaultValue: "2", Mutable: true, ValidationMin: int32p(1), ValidationMax: int32p(8), ValidationMonotonic: "increasing"},
	{Name: "image", Type: "string", Required: true, ValidationRegex: "^[a-z]+$", ValidationError: "lower-case letters only"},
	{Name: "debug", Type: "bool", DefaultValue: "false", Mutable: true, Ephemeral: true},
}

// setupTemplate makes a template whose import "found" testParams.
func setupTemplate(t *testing.T) (owner, daemon *codersdk.Client, org uuid.UUID, tmpl codersdk.Template) {
	t.Helper()
	owner, daemon, org, _ = setupQueue(t, nil)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, testParams)
	ctx := testutil.Context(t, 30*time.Second)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "docker", VersionID: v.ID})
	require.NoError(t, err)
	return owner, daemon, org, tmpl
}

func TestWorkspaceParameterValidation(t *testing.T) {
	t.Parallel()
	owner, _, _, tmpl := setupTemplate(t)
	ctx := testutil.Context(t, 30*time.Second)
	cases := []struct {
		name   string
		params []codersdk.WorkspaceBuildParameter
		field  string
	}{
		{"missing required", nil, "(image)"},
		{"unknown", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "nope", Value: "x"}}, "(nope)"},
		{"not an option", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "region", Value: "mars"}}, "(region)"},
		{"not a number", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "cpus", Value: "many"}}, "(cpus)"},
		{"above max", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "cpus", Value: "9"}}, "(cpus)"},
		{"regex", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "Ubuntu;rm -rf /"}}, "(image)"},
		{"bool", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "debug", Value: "yes"}}, "(debug)"},
		{"duplicate", []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "image", Value: "debian"}}, "(image)"},
	}
	for _, c := range cases {
		_, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws", RichParameterValues: c.params})
		var apiErr *codersdk.Error
		require.ErrorAs(t, err, &apiErr, c.name)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode(), c.name)
		require.NotEmpty(t, apiErr.Validations, c.name)
		require.Contains(t, apiErr.Validations[0].Field, c.field, c.name)
	}
	// Nothing was created by the failures.
	list, err := owner.Workspaces(ctx, codersdk.WorkspaceFilter{Owner: codersdk.Me})
	require.NoError(t, err)
	require.Empty(t, list.Workspaces)

	_, err = owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "bad name!"})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "%v", err)
	_, err = owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: uuid.New(), Name: "ws"})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "%v", err)
}

func TestWorkspaceLifecycleStateRoundTrip(t *testing.T) {
	t.Parallel()
	owner, daemon, org, tmpl := setupTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws1",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}, {Name: "debug", Value: "true"}}})
	require.NoError(t, err)
	require.Equal(t, int32(1), ws.LatestBuild.BuildNumber)
	require.Equal(t, codersdk.WorkspaceStatusPending, ws.LatestBuild.Status)

	_, err = owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "WS1",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "duplicate name: %v", err)

	// Another build while one is pending is refused.
	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "%v", err)

	runBuild := func(wantTransition string, state string, priorState string) *codersdk.AcquiredJob {
		id := uuid.New()
		job := coderdtest.AcquireJob(t, daemon, id, nil)
		require.NotNil(t, job.WorkspaceBuild)
		require.Equal(t, wantTransition, job.WorkspaceBuild.Metadata.WorkspaceTransition)
		require.Equal(t, priorState, string(job.WorkspaceBuild.State))
		res := []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: uuid.NewString(), OS: "linux", Arch: "amd64"}}}}
		require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id,
			WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte(state), Resources: res}}))
		return job
	}
	first := runBuild("start", "state-1", "")
	require.Equal(t, "ws1", first.WorkspaceBuild.Metadata.WorkspaceName)
	require.Equal(t, "admin", first.WorkspaceBuild.Metadata.WorkspaceOwner)
	require.NotEmpty(t, first.WorkspaceBuild.Metadata.OwnerSessionToken)
	gitKey, err := owner.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, gitKey.PublicKey, first.WorkspaceBuild.Metadata.OwnerSSHPublicKey)
	requirePairMatches(t, first.WorkspaceBuild.Metadata.OwnerSSHPrivateKey, gitKey.PublicKey)
	require.ElementsMatch(t, []codersdk.WorkspaceBuildParameter{{Name: "region", Value: "eu"}, {Name: "cpus", Value: "2"}, {Name: "image", Value: "ubuntu"}, {Name: "debug", Value: "true"}}, first.WorkspaceBuild.Parameters)
	// The owner token handed to Terraform works against the API.
	tokenClient := codersdk.New(owner.URL)
	tokenClient.SetSessionToken(first.WorkspaceBuild.Metadata.OwnerSessionToken)
	me, err := tokenClient.User(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, "admin", me.Username)

	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.WorkspaceStatusRunning, ws.LatestBuild.Status)
	require.Len(t, ws.LatestBuild.Resources, 1)
	require.Len(t, ws.LatestBuild.Resources[0].Agents, 1)

	// Immutable parameters cannot change; monotonic ones only grow.
	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop,
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "region", Value: "us"}}})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "immutable: %v", err)
	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop,
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "cpus", Value: "1"}}})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "monotonic: %v", err)

	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop,
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "cpus", Value: "4"}}})
	require.NoError(t, err)
	stop := runBuild("stop", "state-2", "state-1")
	require.Empty(t, stop.WorkspaceBuild.Metadata.OwnerSessionToken)
	require.Equal(t, first.WorkspaceBuild.Metadata.OwnerSSHPrivateKey, stop.WorkspaceBuild.Metadata.OwnerSSHPrivateKey, "the git key goes with stops too")
	// The ephemeral value is not carried over.
	require.Contains(t, stop.WorkspaceBuild.Parameters, codersdk.WorkspaceBuildParameter{Name: "debug", Value: "false"})
	require.Contains(t, stop.WorkspaceBuild.Parameters, codersdk.WorkspaceBuildParameter{Name: "cpus", Value: "4"})
	require.Contains(t, stop.WorkspaceBuild.PreviousParameters, codersdk.WorkspaceBuildParameter{Name: "cpus", Value: "2"})

	// A failed start keeps the last good state for the next build.
	build, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart})
	require.NoError(t, err)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.Equal(t, "state-2", string(job.WorkspaceBuild.State))
	require.NoError(t, daemon.FailJob(ctx, job.JobID, codersdk.FailJobRequest{DaemonID: id, Error: "Error: boom", ErrorCode: codersdk.JobErrorCodeTerraform}))
	failed, err := owner.WorkspaceBuild(ctx, build.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.WorkspaceStatusFailed, failed.Status)
	require.Equal(t, "Error: boom", failed.Job.Error)

	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart})
	require.NoError(t, err)
	runBuild("start", "state-3", "state-2")

	// The template cannot be deleted while the workspace exists.
	err = owner.DeleteTemplate(ctx, tmpl.ID)
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "%v", err)

	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionDelete})
	require.NoError(t, err)
	del := runBuild("destroy", "", "state-3")
	require.Equal(t, "destroy", del.WorkspaceBuild.Metadata.WorkspaceTransition)
	_, err = owner.Workspace(ctx, ws.ID)
	require.True(t, codersdk.IsStatus(err, http.StatusGone), "%v", err)
	builds, err := owner.WorkspaceBuilds(ctx, ws.ID)
	require.NoError(t, err)
	require.Len(t, builds, 5)
	require.NoError(t, owner.DeleteTemplate(ctx, tmpl.ID))
	_ = org
}

func TestWorkspaceOrphanAndAccess(t *testing.T) {
	t.Parallel()
	owner, daemon, _, tmpl := setupTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	member, _ := coderdtest.CreateAnotherUser(t, owner)
	ws, err := member.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "mine",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "alpine"}}})
	require.NoError(t, err)
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte("s")}}))

	other, _ := coderdtest.CreateAnotherUser(t, owner)
	_, err = other.Workspace(ctx, ws.ID)
	require.True(t, codersdk.IsStatus(err, http.StatusNotFound), "another member must not see it: %v", err)
	list, err := other.Workspaces(ctx, codersdk.WorkspaceFilter{})
	require.NoError(t, err)
	require.Empty(t, list.Workspaces)
	// Members may not orphan.
	_, err = member.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionDelete, Orphan: true})
	require.True(t, codersdk.IsStatus(err, http.StatusForbidden), "%v", err)
	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart, Orphan: true})
	require.True(t, codersdk.IsStatus(err, http.StatusBadRequest), "%v", err)
	b, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionDelete, Orphan: true})
	require.NoError(t, err)
	got, err := owner.WorkspaceBuild(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.WorkspaceStatusDeleted, got.Status)
	_, err = member.Workspace(ctx, ws.ID)
	require.True(t, codersdk.IsStatus(err, http.StatusGone), "%v", err)
}

func TestFileUploadLimits(t *testing.T) {
	t.Parallel()
	client, _ := coderdtest.New(t, &coderdtest.Options{MaxFileSize: 64 << 10})
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, 30*time.Second)
	good := testutil.Tar(t, map[string]string{"main.tf": "terraform {}"})
	a, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(good))
	require.NoError(t, err)
	b, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(good))
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID, "identical content is stored once")
	data, _, err := client.Download(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, good, data)

	cases := []struct {
		name   string
		ct     string
		body   []byte
		status int
		detail string
	}{
		{"dotdot", codersdk.ContentTypeTar, testutil.Tar(t, map[string]string{"../evil.tf": "x"}), 400, "leave the template"},
		{"absolute", codersdk.ContentTypeTar, testutil.Tar(t, map[string]string{"/etc/passwd": "x"}), 400, "absolute"},
		{"nested dotdot", codersdk.ContentTypeTar, testutil.Tar(t, map[string]string{"a/../../b": "x"}), 400, ""},
		{"oversized", codersdk.ContentTypeTar, testutil.Tar(t, map[string]string{"big": strings.Repeat("x", 128<<10)}), 413, ""},
		{"not a tar", codersdk.ContentTypeTar, []byte("hello, this is not a tar archive at all, nope"), 400, ""},
		{"wrong type", "application/zip", good, 415, ""},
	}
	for _, c := range cases {
		_, err := client.Upload(ctx, c.ct, bytes.NewReader(c.body))
		var apiErr *codersdk.Error
		require.ErrorAs(t, err, &apiErr, c.name)
		require.Equal(t, c.status, apiErr.StatusCode(), c.name)
		require.Contains(t, apiErr.Detail, c.detail, c.name)
	}
	_, _, err = client.Download(ctx, uuid.New())
	require.True(t, codersdk.IsStatus(err, http.StatusNotFound))
}

// TestWorkspaceStatusFilter: status: filters on the latest build's status,
// and an unknown status is a 400 naming q.
func TestWorkspaceStatusFilter(t *testing.T) {
	t.Parallel()
	owner, _, _, tmpl := setupTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws1",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
	require.NoError(t, err)
	status := ws.LatestBuild.Status
	require.NotEqual(t, codersdk.WorkspaceStatusRunning, status, "no daemon ran the build")

	list, err := owner.Workspaces(ctx, codersdk.WorkspaceFilter{Status: status})
	require.NoError(t, err)
	require.Len(t, list.Workspaces, 1)
	list, err = owner.Workspaces(ctx, codersdk.WorkspaceFilter{Status: codersdk.WorkspaceStatusRunning})
	require.NoError(t, err)
	require.Empty(t, list.Workspaces)

	_, err = owner.Workspaces(ctx, codersdk.WorkspaceFilter{Status: "sleepy"})
	var apiErr *codersdk.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode())
	require.Equal(t, "q", apiErr.Validations[0].Field)
}
