package coderd_test

import (
	"context"
	"errors"
	"io"
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

// metadataItems are the metadata blocks of the agent in these tests, in
// an order that differs from the one users see (order, then key).
var metadataItems = []codersdk.ProvisionerAgentMetadata{
	{Key: "cpu", DisplayName: "CPU", Script: "coder stat cpu", Interval: 10, Timeout: 1, Order: 2},
	{Key: "mem", DisplayName: "Memory", Script: "coder stat mem", Interval: 10, Timeout: 1, Order: 1},
}

// metadataWorkspace is a running workspace whose agent has metadataItems;
// it returns the owner, the agent's client and the agent's ID.
func metadataWorkspace(t *testing.T) (owner, agent *codersdk.Client, agentID uuid.UUID) {
	t.Helper()
	owner, daemon, org, _ := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "metadata", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "metadata"})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{{Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Metadata: metadataItems}}}})
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	agent = codersdk.New(owner.URL)
	agent.SetSessionToken(token)
	return owner, agent, ws.LatestBuild.Resources[0].Agents[0].ID
}

// metadataValues maps key -> value (or "error: ..." when it failed) of a
// metadata list, for compact assertions.
func metadataValues(md []codersdk.WorkspaceAgentMetadata) map[string]string {
	out := map[string]string{}
	for _, m := range md {
		out[m.Description.Key] = m.Result.Value
		if m.Result.Error != "" {
			out[m.Description.Key] = "error: " + m.Result.Error
		}
	}
	return out
}

// The agent posts results; a watcher gets the full set (in the users'
// order, unreported keys empty) on connect and again after each report;
// the agent and workspace answers carry the latest results.
func TestAgentMetadataWatch(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	owner, agent, agentID := metadataWorkspace(t)

	events := make(chan []codersdk.WorkspaceAgentMetadata, 16)
	watchCtx, stop := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- owner.WatchWorkspaceAgentMetadata(watchCtx, agentID, func(md []codersdk.WorkspaceAgentMetadata) error {
			events <- md
			return nil
		})
	}()
	defer func() {
		stop()
		require.ErrorIs(t, <-watchDone, context.Canceled)
	}()
	next := func() []codersdk.WorkspaceAgentMetadata {
		t.Helper()
		select {
		case md := <-events:
			return md
		case err := <-watchDone:
			t.Fatalf("watch ended: %v", err)
		case <-ctx.Done():
			t.Fatal("no metadata event")
		}
		return nil
	}

	initial := next()
	require.Len(t, initial, 2)
	require.Equal(t, "mem", initial[0].Description.Key, "order 1 first")
	require.Equal(t, codersdk.WorkspaceAgentMetadataDescription{DisplayName: "CPU", Key: "cpu", Script: "coder stat cpu", Interval: 10, Timeout: 1}, initial[1].Description)
	require.True(t, initial[1].Result.CollectedAt.IsZero(), "not reported yet")

	require.NoError(t, agent.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{
		{Key: "cpu", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Value: "42%", CollectedAt: time.Unix(1, 0)}},
	}}))
	updated := next()
	require.Equal(t, map[string]string{"cpu": "42%", "mem": ""}, metadataValues(updated))
	require.WithinDuration(t, time.Now(), updated[1].Result.CollectedAt, time.Hour, "collected_at is coderd's receipt time, not the agent's clock")

	require.NoError(t, agent.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{
		{Key: "mem", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Error: "exit status 1: no free"}},
	}}))
	require.Equal(t, map[string]string{"cpu": "42%", "mem": "error: exit status 1: no free"}, metadataValues(next()))

	a, err := owner.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"cpu": "42%", "mem": "error: exit status 1: no free"}, metadataValues(a.Metadata))
}

// The workspace answer (what the dashboard and `coder show` read) carries
// the agent's metadata too.
func TestAgentMetadataInWorkspace(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	owner, agent, _ := metadataWorkspace(t)
	require.NoError(t, agent.PostAgentMetadata(ctx, codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{
		{Key: "mem", WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Value: "1.2 GiB"}},
	}}))
	list, err := owner.Workspaces(ctx, codersdk.WorkspaceFilter{})
	require.NoError(t, err)
	require.Len(t, list.Workspaces, 1)
	got := list.Workspaces[0].LatestBuild.Resources[0].Agents[0].Metadata
	require.Equal(t, map[string]string{"cpu": "", "mem": "1.2 GiB"}, metadataValues(got))
}

// Bad reports are refused whole with 400, naming each bad field; nothing
// of them is stored.
func TestAgentMetadataBadInput(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	owner, agent, agentID := metadataWorkspace(t)
	item := func(key, value string) codersdk.AgentMetadataReport {
		return codersdk.AgentMetadataReport{Key: key, WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Value: value}}
	}
	long := strings.Repeat("x", codersdk.MaxAgentMetadataValueBytes+1)
	for _, tc := range []struct {
		name   string
		req    codersdk.PostAgentMetadataRequest
		fields map[string]string // field -> part of its detail
	}{
		{"missing list", codersdk.PostAgentMetadataRequest{}, map[string]string{"metadata": "required"}},
		{"unknown key", codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{item("cpu", "1"), item("disk", "2")}},
			map[string]string{"metadata[1].key": `no metadata key "disk"`}},
		{"duplicate key", codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{item("cpu", "1"), item("cpu", "2")}},
			map[string]string{"metadata[1].key": "twice"}},
		{"value too long", codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{item("cpu", long)}},
			map[string]string{"metadata[0].value": "at most 4096"}},
		{"error too long", codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{{Key: "mem",
			WorkspaceAgentMetadataResult: codersdk.WorkspaceAgentMetadataResult{Error: long}}}},
			map[string]string{"metadata[0].error": "at most 4096"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := agent.PostAgentMetadata(ctx, tc.req)
			var apiErr *codersdk.Error
			require.True(t, errors.As(err, &apiErr), "want an API error, got %v", err)
			require.Equal(t, http.StatusBadRequest, apiErr.StatusCode())
			got := map[string]string{}
			for _, v := range apiErr.Validations {
				got[v.Field] = v.Detail
			}
			require.Len(t, got, len(tc.fields), "validations: %+v", apiErr.Validations)
			for f, want := range tc.fields {
				require.Contains(t, got[f], want, "field %s", f)
			}
		})
	}
	// A malformed body is refused too.
	res, err := agent.Request(ctx, http.MethodPost, "/api/v2/workspaceagents/me/metadata", map[string]any{"metadata": "cpu"})
	require.NoError(t, err)
	_ = res.Body.Close()
	require.Equal(t, http.StatusBadRequest, res.StatusCode)

	a, err := owner.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	require.Equal(t, map[string]string{"cpu": "", "mem": ""}, metadataValues(a.Metadata), "nothing of a refused report is stored")
}

// callStream makes a request whose success answer is a stream: it returns
// the status and headers, and the body of an error answer only.
func callStream(ctx context.Context, t testing.TB, srv *coderdtest.Server, method, path, token string) rawResponse {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := codersdk.New(srv.URL)
	c.SetSessionToken(token)
	res, err := c.Request(ctx, method, path, nil)
	require.NoError(t, err, "%s %s", method, path)
	defer res.Body.Close()
	if res.StatusCode >= 400 {
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return rawResponse{status: res.StatusCode, header: res.Header, body: b}
	}
	require.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	return rawResponse{status: res.StatusCode, header: res.Header}
}
