package coderd_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestWorkspacesPagination: limit and offset select a page of the list in
// its order (owner, then name), Count stays the number of all matches
// (after a status filter too), and bad values are refused by name.
func TestWorkspacesPagination(t *testing.T) {
	t.Parallel()
	owner, _, _, tmpl := setupTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	for i := 1; i <= 5; i++ {
		_, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: fmt.Sprintf("ws%d", i),
			RichParameterValues: []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}})
		require.NoError(t, err)
	}
	names := func(f codersdk.WorkspaceFilter) ([]string, int) {
		t.Helper()
		res, err := owner.Workspaces(ctx, f)
		require.NoError(t, err)
		require.NotNil(t, res.Workspaces, "an empty page is [], not null")
		var out []string
		for _, ws := range res.Workspaces {
			out = append(out, ws.Name)
		}
		return out, res.Count
	}
	cases := []struct {
		name  string
		f     codersdk.WorkspaceFilter
		want  []string
		count int
	}{
		{"all", codersdk.WorkspaceFilter{}, []string{"ws1", "ws2", "ws3", "ws4", "ws5"}, 5},
		{"first page", codersdk.WorkspaceFilter{Limit: 2}, []string{"ws1", "ws2"}, 5},
		{"middle page", codersdk.WorkspaceFilter{Limit: 2, Offset: 2}, []string{"ws3", "ws4"}, 5},
		{"last page", codersdk.WorkspaceFilter{Limit: 2, Offset: 4}, []string{"ws5"}, 5},
		{"past the end", codersdk.WorkspaceFilter{Limit: 2, Offset: 10}, nil, 5},
		{"offset only", codersdk.WorkspaceFilter{Offset: 3}, []string{"ws4", "ws5"}, 5},
		{"status and page", codersdk.WorkspaceFilter{Status: codersdk.WorkspaceStatusPending, Limit: 2, Offset: 1}, []string{"ws2", "ws3"}, 5},
		{"status matching none", codersdk.WorkspaceFilter{Status: codersdk.WorkspaceStatusRunning, Limit: 2}, nil, 0},
		{"name and page", codersdk.WorkspaceFilter{Name: "ws", Limit: 1, Offset: 1}, []string{"ws2"}, 5},
	}
	for _, c := range cases {
		got, count := names(c.f)
		require.Equal(t, c.want, got, c.name)
		require.Equal(t, c.count, count, c.name)
	}

	for query, field := range map[string]string{"limit=-1": "limit", "limit=1001": "limit", "limit=ten": "limit", "offset=x": "offset"} {
		res, err := owner.Request(ctx, http.MethodGet, "/api/v2/workspaces?"+query, nil)
		require.NoError(t, err)
		err = codersdk.ReadBodyAsError(res)
		_ = res.Body.Close()
		var apiErr *codersdk.Error
		require.ErrorAs(t, err, &apiErr, query)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode(), query)
		require.Equal(t, field, apiErr.Validations[0].Field, query)
	}
}
