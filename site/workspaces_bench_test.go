package site_test

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// BenchmarkWorkspacesPage measures the server time of the dashboard's
// workspace list as the owner (who sees every workspace) with a fleet in
// the database: 1,000 workspaces of 100 templates owned by 50 users (50,
// 5 and 5 under -short). Each iteration fetches, with the session cookie
// over loopback HTTP: the page the browser gets (GET /workspaces?filter=,
// the first 100 rows as HTML); as the baseline, the API call it is built
// from (GET /api/v2/workspaces?limit=100, the same rows as JSON); and the
// whole list from the API (GET /api/v2/workspaces), which the page fetched
// before it had pages. Figures only:
//
//	go run ./scripts/testpg -- go test -tags ts_debug_websockets ./site -run '^$' -bench WorkspacesPage -benchtime 20x
func BenchmarkWorkspacesPage(b *testing.B) {
	nWorkspaces, nTemplates, nUsers := 1000, 100, 50
	if testing.Short() {
		nWorkspaces, nTemplates, nUsers = 50, 5, 5
	}
	client, srv := coderdtest.New(b, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(b, client)
	seedFleet(b, client, srv.DB, first, nTemplates, nUsers, nWorkspaces)

	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx := testutil.Context(b, 30*time.Minute)
	get := func(path, want string) time.Duration {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL.String()+path, nil)
		require.NoError(b, err)
		req.AddCookie(&http.Cookie{Name: codersdk.SessionTokenCookie, Value: client.SessionToken()})
		t0 := time.Now()
		res, err := hc.Do(req)
		require.NoError(b, err)
		body, err := io.ReadAll(res.Body)
		d := time.Since(t0)
		_ = res.Body.Close()
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, res.StatusCode, "%s: %s", path, body)
		require.Contains(b, string(body), want, "%s: the last workspace is listed", path)
		return d
	}
	// The owner "admin" sorts first, and ws-0000 is theirs: on every first page.
	const page, api, all = "/workspaces?filter=", "/api/v2/workspaces?limit=100", "/api/v2/workspaces"
	for _, p := range []string{page, api, all} {
		get(p, "ws-0000") // warm up
	}
	var pageLat, apiLat, allLat []time.Duration
	for b.Loop() {
		pageLat = append(pageLat, get(page, "ws-0000"))
		apiLat = append(apiLat, get(api, "ws-0000"))
		allLat = append(allLat, get(all, "ws-0000"))
	}
	p50, p99 := percentiles(pageLat)
	a50, a99 := percentiles(apiLat)
	all50, _ := percentiles(allLat)
	b.ReportMetric(p50, "page-p50-ms")
	b.ReportMetric(p99, "page-p99-ms")
	b.ReportMetric(a50, "api-p50-ms")
	b.ReportMetric(a99, "api-p99-ms")
	b.ReportMetric(all50, "api-all-p50-ms")
	if a50 > 0 {
		b.ReportMetric(p50/a50, "page/api")
	}
}

// percentiles returns the median and 99th percentile in milliseconds.
func percentiles(d []time.Duration) (p50, p99 float64) {
	if len(d) == 0 {
		return 0, 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	at := func(p float64) float64 {
		return float64(s[min(len(s)-1, int(float64(len(s))*p))]) / float64(time.Millisecond)
	}
	return at(0.50), at(0.99)
}

// seedFleet inserts users, templates (two versions each, the second
// active) and running workspaces straight into the database, in one
// transaction: each workspace has a succeeded start build with one
// resource and one agent, and every other one is on the old version
// (outdated). One template version is imported through the API first, so
// the seeded rows share a real uploaded file.
func seedFleet(b testing.TB, client *codersdk.Client, db *database.Store, first codersdk.CreateFirstUserResponse, nTemplates, nUsers, nWorkspaces int) {
	b.Helper()
	ctx := testutil.Context(b, 10*time.Minute)
	v := coderdtest.CreateTemplateVersion(b, client, first.OrganizationID, map[string]string{"main.tf": "# seed"}, nil)
	coderdtest.CompleteImport(b, coderdtest.DaemonClient(client), nil)
	seed, err := db.GetProvisionerJobByID(ctx, v.Job.ID)
	require.NoError(b, err)

	now := time.Now()
	err = db.InTx(ctx, func(tx *database.Store) error {
		job := func(typ string, input string) (uuid.UUID, error) {
			j, err := tx.InsertProvisionerJob(ctx, database.ProvisionerJob{ID: uuid.New(), OrganizationID: first.OrganizationID, InitiatorID: first.UserID,
				Type: typ, Provisioner: "terraform", FileID: seed.FileID, Input: []byte(input), CreatedAt: now})
			if err != nil {
				return uuid.Nil, fmt.Errorf("insert job: %w", err)
			}
			if _, err := tx.CompleteProvisionerJob(ctx, j.ID, nil, "", now); err != nil {
				return uuid.Nil, fmt.Errorf("complete job: %w", err)
			}
			return j.ID, nil
		}
		owners := []uuid.UUID{first.UserID}
		for i := range nUsers - 1 {
			u, err := tx.InsertUser(ctx, database.User{ID: uuid.New(), Email: fmt.Sprintf("seed%d@example.com", i), Username: fmt.Sprintf("seed%03d", i),
				Status: "active", LoginType: "password", CreatedAt: now})
			if err != nil {
				return err
			}
			if err := tx.InsertOrganizationMember(ctx, database.OrganizationMember{OrganizationID: first.OrganizationID, UserID: u.ID, CreatedAt: now}); err != nil {
				return err
			}
			owners = append(owners, u.ID)
		}
		type tmpl struct{ id, old, active uuid.UUID }
		var tmpls []tmpl
		for i := range nTemplates {
			t := tmpl{id: uuid.New(), old: uuid.New(), active: uuid.New()}
			if _, err := tx.InsertTemplate(ctx, database.Template{ID: t.id, OrganizationID: first.OrganizationID, Name: fmt.Sprintf("tmpl-%03d", i),
				ActiveVersionID: t.active, CreatedBy: first.UserID, CreatedAt: now}); err != nil {
				return fmt.Errorf("insert template: %w", err)
			}
			for n, id := range []uuid.UUID{t.old, t.active} {
				jobID, err := job(string(codersdk.ProvisionerJobTypeTemplateVersionImport), "{}")
				if err != nil {
					return err
				}
				if _, err := tx.InsertTemplateVersion(ctx, database.TemplateVersion{ID: id, TemplateID: &t.id, OrganizationID: first.OrganizationID,
					Name: fmt.Sprintf("v%d", n+1), JobID: jobID, CreatedBy: first.UserID, Parameters: []byte("[]"), CreatedAt: now}); err != nil {
					return fmt.Errorf("insert version: %w", err)
				}
			}
			tmpls = append(tmpls, t)
		}
		for i := range nWorkspaces {
			t := tmpls[i%len(tmpls)]
			version := t.active
			if i%2 == 1 {
				version = t.old
			}
			ws, err := tx.InsertWorkspace(ctx, database.Workspace{ID: uuid.New(), OrganizationID: first.OrganizationID, OwnerID: owners[i%len(owners)],
				TemplateID: t.id, Name: fmt.Sprintf("ws-%04d", i), CreatedAt: now})
			if err != nil {
				return fmt.Errorf("insert workspace: %w", err)
			}
			buildID := uuid.New()
			jobID, err := job(string(codersdk.ProvisionerJobTypeWorkspaceBuild), fmt.Sprintf(`{"workspace_build_id":%q}`, buildID))
			if err != nil {
				return err
			}
			if _, err := tx.InsertWorkspaceBuild(ctx, database.WorkspaceBuild{ID: buildID, WorkspaceID: ws.ID, TemplateVersionID: version, BuildNumber: 1,
				Transition: string(codersdk.WorkspaceTransitionStart), InitiatorID: ws.OwnerID, Reason: string(codersdk.BuildReasonInitiator), JobID: jobID, CreatedAt: now}); err != nil {
				return fmt.Errorf("insert build: %w", err)
			}
			resID := uuid.New()
			if err := tx.InsertWorkspaceResource(ctx, database.WorkspaceResource{ID: resID, JobID: jobID, Transition: string(codersdk.WorkspaceTransitionStart),
				Type: "docker_container", Name: "box", CreatedAt: now}); err != nil {
				return err
			}
			token := uuid.New()
			if err := tx.InsertWorkspaceAgent(ctx, database.WorkspaceAgent{ID: uuid.New(), ResourceID: resID, Name: "main", HashedToken: token[:],
				Auth: "token", OS: "linux", Arch: "amd64", CreatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	require.NoError(b, err, "seed the fleet")
}
