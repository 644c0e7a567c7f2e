package coderd_test

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

func ptr[T any](v T) *T { return &v }

// Template settings change field by field, and the two policies bind
// members (not template admins): require_active_version moves a member's
// start to the active version and refuses an older one; with
// allow_user_cancel_workspace_jobs off a member cannot cancel a build.
func TestTemplateMetaPolicies(t *testing.T) {
	t.Parallel()
	owner, daemon, org, tmpl := setupTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	require.False(t, tmpl.RequireActiveVersion)
	require.True(t, tmpl.AllowUserCancelWorkspaceJobs, "members may cancel by default")

	got, err := owner.UpdateTemplateMeta(ctx, tmpl.ID, codersdk.UpdateTemplateMeta{DisplayName: ptr("Docker box"), RequireActiveVersion: ptr(true)})
	require.NoError(t, err)
	require.Equal(t, "Docker box", got.DisplayName)
	require.Equal(t, tmpl.Description, got.Description, "fields not sent are kept")
	require.True(t, got.RequireActiveVersion)
	_, err = owner.UpdateTemplateMeta(ctx, tmpl.ID, codersdk.UpdateTemplateMeta{Name: ptr("no spaces!")})
	var apiErr *codersdk.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode())
	require.Equal(t, "name", apiErr.Validations[0].Field)

	member, _ := coderdtest.CreateAnotherUser(t, owner)
	_, err = member.UpdateTemplateMeta(ctx, tmpl.ID, codersdk.UpdateTemplateMeta{DisplayName: ptr("mine")})
	require.True(t, codersdk.IsStatus(err, http.StatusForbidden), "%v", err)

	// The member's workspace on v1, then v2 becomes active.
	ws, err := member.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, uuid.NewString())
	v1 := ws.LatestBuild.TemplateVersionID
	up, err := owner.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, map[string]string{"main.tf": "# v2"})))
	require.NoError(t, err)
	v2, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{TemplateID: tmpl.ID, FileID: up.ID})
	require.NoError(t, err)
	coderdtest.CompleteImport(t, daemon, testParams)
	require.NoError(t, owner.UpdateActiveTemplateVersion(ctx, tmpl.ID, codersdk.UpdateActiveTemplateVersion{ID: v2.ID}))

	_, err = member.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart, TemplateVersionID: v1})
	require.True(t, codersdk.IsStatus(err, http.StatusForbidden), "pinning the old version is refused: %v", err)
	require.ErrorContains(t, err, "requires the active version")
	b, err := member.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart})
	require.NoError(t, err)
	require.Equal(t, v2.ID, b.TemplateVersionID, "a plain start moves the workspace to the active version")

	// Cancel: refused for the member once the template says so.
	_, err = owner.UpdateTemplateMeta(ctx, tmpl.ID, codersdk.UpdateTemplateMeta{AllowUserCancelWorkspaceJobs: ptr(false)})
	require.NoError(t, err)
	err = member.CancelWorkspaceBuild(ctx, b.ID)
	require.True(t, codersdk.IsStatus(err, http.StatusForbidden), "%v", err)
	require.ErrorContains(t, err, "does not let users cancel builds")
	require.NoError(t, owner.CancelWorkspaceBuild(ctx, b.ID), "template admins always may")
}
