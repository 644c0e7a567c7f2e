package coderd_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// series returns every series of the named family in reg as
// label-set -> value (counters and gauges; histograms give their count).
func series(t *testing.T, reg prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			key := ""
			for _, l := range m.GetLabel() { // sorted by name
				key += l.GetName() + "=" + l.GetValue() + " "
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestPrometheusAPIRequests: API requests are counted by chi route
// pattern (not raw URL) and status, and a websocket (following a job's
// logs) upgrades through the metrics middleware.
func TestPrometheusAPIRequests(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	owner, daemon, org, _ := setupQueue(t, &coderdtest.Options{PrometheusRegistry: reg})
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)

	logs, streamErr, err := owner.TemplateVersionLogsAfter(ctx, v.ID, 0, true)
	require.NoError(t, err, "the websocket upgrade passes through the metrics middleware")
	require.Equal(t, 1.0, series(t, reg, "coderd_api_concurrent_websockets")[""])
	coderdtest.CompleteImport(t, daemon, nil)
	for range logs {
	}
	require.NoError(t, streamErr())

	_, err = owner.TemplateVersion(ctx, v.ID)
	require.NoError(t, err)
	_, err = owner.TemplateVersion(ctx, uuid.New())
	requireStatus(t, err, http.StatusNotFound)
	resp, err := owner.Request(ctx, http.MethodPost, "/api/v2/organizations/"+org.String()+"/templateversions", map[string]any{})
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)

	const versionRoute = "path=/api/v2/templateversions/{templateversion} "
	got := series(t, reg, "coderd_api_requests_processed_total")
	require.Equal(t, 1.0, got["code=200 method=GET "+versionRoute])
	require.Equal(t, 1.0, got["code=404 method=GET "+versionRoute])
	const createRoute = "method=POST path=/api/v2/organizations/{organization}/templateversions "
	require.Equal(t, 1.0, got["code=201 "+createRoute])
	require.Equal(t, 1.0, got["code=400 "+createRoute])
	for k := range got {
		require.NotContains(t, k, v.ID.String(), "raw URLs never become labels")
	}
	require.Equal(t, 2.0, series(t, reg, "coderd_api_request_latencies_seconds")["method=GET "+versionRoute])
	// The websocket's series lands when its handler has returned, just
	// after the client saw the stream end.
	logsRoute := "code=101 method=GET path=/api/v2/templateversions/{templateversion}/logs "
	require.Eventually(t, func() bool {
		return series(t, reg, "coderd_api_requests_processed_total")[logsRoute] == 1
	}, testutil.WaitLong, 10*time.Millisecond)
	require.Equal(t, 0.0, series(t, reg, "coderd_api_concurrent_websockets")[""])
}

// TestPrometheusWorkspaceBuilds: a build counts once it has ended, by
// status and transition; template imports do not count.
func TestPrometheusWorkspaceBuilds(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	owner, daemon, org, _ := setupQueue(t, &coderdtest.Options{PrometheusRegistry: reg})
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	require.Empty(t, series(t, reg, "coderd_workspace_builds_total"))
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, uuid.NewString())

	const jobs = "coderd_provisionerd_jobs_current"
	require.Equal(t, map[string]float64{"state=pending ": 0, "state=running ": 0}, series(t, reg, jobs))
	_, err = owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	require.Equal(t, map[string]float64{"state=pending ": 1, "state=running ": 0}, series(t, reg, jobs))
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.Equal(t, map[string]float64{"state=pending ": 0, "state=running ": 1}, series(t, reg, jobs))
	require.NoError(t, daemon.FailJob(ctx, job.JobID, codersdk.FailJobRequest{DaemonID: id, Error: "boom"}))
	require.Equal(t, map[string]float64{"state=pending ": 0, "state=running ": 0}, series(t, reg, jobs))

	require.Equal(t, map[string]float64{
		"status=success transition=start ": 1,
		"status=failed transition=stop ":   1,
	}, series(t, reg, "coderd_workspace_builds_total"))
}

// TestPrometheusAgentConnections: coderd_agents_connections gauges open
// agent coordination websockets.
func TestPrometheusAgentConnections(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	owner, daemon, org, srv := setupQueue(t, &coderdtest.Options{PrometheusRegistry: reg})
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, token)
	const gauge = "coderd_agents_connections"
	require.Equal(t, 0.0, series(t, reg, gauge)[""])

	u := *srv.URL
	u.Scheme = "ws"
	conn, _, err := websocket.Dial(ctx, u.String()+"/api/v2/workspaceagents/me/coordinate",
		&websocket.DialOptions{HTTPHeader: http.Header{codersdk.SessionTokenHeader: {token}}})
	require.NoError(t, err)
	require.Equal(t, 1.0, series(t, reg, gauge)[""])
	require.NoError(t, conn.Close(websocket.StatusNormalClosure, ""))
	// The handler returns (and the gauge drops) just after the close.
	require.Eventually(t, func() bool { return series(t, reg, gauge)[""] == 0 }, testutil.WaitLong, 10*time.Millisecond)
}
