package coderd_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/testutil"
)

// Stored JSON that no longer decodes (written by hand, an old migration, a
// bug) is answered with a clear 500 and logged with its row; it is never
// shown as an empty value.
func TestCorruptStoredJSON(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	owner, daemon, org, srv := setupQueue(t, &coderdtest.Options{Logger: testutil.TeeLogger(t, &logs)})
	ctx := testutil.Context(t, testutil.WaitLong)
	ws, agentToken := agentWorkspace(t, owner, daemon, org, "corrupt")
	resource := ws.LatestBuild.Resources[0]
	agent := resource.Agents[0]

	get := func(path, token string) func(t *testing.T) rawResponse {
		return func(t *testing.T) rawResponse { return call(ctx, t, srv, http.MethodGet, path, token, nil) }
	}
	for _, tc := range []struct {
		name, table, column string
		row                 uuid.UUID
		bad                 string // valid jsonb of the wrong shape
		reads               map[string]func(t *testing.T) rawResponse
	}{
		{"agent spec", "workspace_agents", "spec", agent.ID, `{"env": "not-a-map"}`, map[string]func(*testing.T) rawResponse{
			"agent":     get("/api/v2/workspaceagents/"+agent.ID.String(), owner.SessionToken()),
			"workspace": get("/api/v2/workspaces/"+ws.ID.String(), owner.SessionToken()),
			"manifest":  get("/api/v2/workspaceagents/me/manifest", agentToken),
		}},
		{"resource metadata", "workspace_resources", "metadata", resource.ID, `{"not": "a list"}`, map[string]func(*testing.T) rawResponse{
			"build":     get("/api/v2/workspacebuilds/"+ws.LatestBuild.ID.String(), owner.SessionToken()),
			"resources": get("/api/v2/templateversions/"+ws.LatestBuild.TemplateVersionID.String()+"/resources", owner.SessionToken()),
		}},
		{"listening ports", "workspace_agents", "listening_ports", agent.ID, `{"not": "a list"}`, map[string]func(*testing.T) rawResponse{
			"ports": get("/api/v2/workspaceagents/"+agent.ID.String()+"/listening-ports", owner.SessionToken()),
		}},
		{"job input", "provisioner_jobs", "input", ws.LatestBuild.Job.ID, `[1, 2]`, map[string]func(*testing.T) rawResponse{
			"build":      get("/api/v2/workspacebuilds/"+ws.LatestBuild.ID.String(), owner.SessionToken()),
			"workspaces": get("/api/v2/workspaces", owner.SessionToken()),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Sequential: each case corrupts one shared row and restores it.
			if tc.table == "workspace_resources" {
				// The template's import resources are other rows; corrupt them all.
				_, err := srv.DB.Pool().Exec(ctx, `UPDATE workspace_resources SET metadata = $1::jsonb`, tc.bad)
				require.NoError(t, err)
				t.Cleanup(func() { _, _ = srv.DB.Pool().Exec(ctx, `UPDATE workspace_resources SET metadata = '[]'::jsonb`) })
			} else {
				var orig []byte
				require.NoError(t, srv.DB.Pool().QueryRow(ctx, `SELECT `+tc.column+` FROM `+tc.table+` WHERE id = $1`, tc.row).Scan(&orig))
				_, err := srv.DB.Pool().Exec(ctx, `UPDATE `+tc.table+` SET `+tc.column+` = $1::jsonb WHERE id = $2`, tc.bad, tc.row)
				require.NoError(t, err)
				t.Cleanup(func() {
					_, _ = srv.DB.Pool().Exec(ctx, `UPDATE `+tc.table+` SET `+tc.column+` = $1 WHERE id = $2`, orig, tc.row)
				})
			}
			for name, read := range tc.reads {
				res := read(t)
				require.Equal(t, http.StatusInternalServerError, res.status, "%s: %s", name, res.body)
				require.Equal(t, "Stored data is corrupt.", res.response(t).Message, name)
			}
			if tc.table == "workspace_resources" {
				require.Contains(t, logs.String(), tc.table+"."+tc.column+" of row ")
			} else {
				require.Contains(t, logs.String(), tc.table+"."+tc.column+" of row "+tc.row.String())
			}
		})
	}
}
