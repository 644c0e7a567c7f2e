package cli

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// `coder show` lists each agent's metadata: the value, the error, or that
// the agent has not reported it yet.
func TestShowAgentMetadata(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	tmpl := e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws, err := e.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "meta",
		RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, e.daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "dev", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Metadata: []codersdk.ProvisionerAgentMetadata{
			{Key: "cpu", DisplayName: "CPU", Script: "coder stat cpu", Interval: 10, Timeout: 1},
			{Key: "disk", DisplayName: "Disk usage", Script: "df", Interval: 60},
			{Key: "load", Script: "cat /proc/loadavg", Interval: 10},
		}}}}})
	agent := codersdk.New(e.owner.URL)
	agent.SetSessionToken(token)
	require.NoError(t, agent.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{
		{Key: "cpu", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Value: "12%"}},
		{Key: "disk", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Error: "exit status 1: df: no such mount"}},
	}}))

	code, stdout, stderr := e.exec(t, ctx, nil, "show", "meta")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Agent dev metadata:")
	require.Regexp(t, `(?m)^  CPU:\s+12%$`, stdout)
	require.Regexp(t, `(?m)^  Disk usage:\s+error: exit status 1: df: no such mount$`, stdout)
	require.Regexp(t, `(?m)^  load:\s+\(not collected yet\)$`, stdout)
}
