package coderd_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/workspaceapps"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// appSmallRequests is how many small requests each iteration of
// BenchmarkAppProxy sends each way.
const appSmallRequests = 20

// BenchmarkAppProxy measures a workspace app reached through coderd's
// path-app proxy against the same app reached directly. The app is an HTTP
// server in this process on loopback; the workspace's agent (also in this
// process) reaches it at 127.0.0.1, and coderd reaches the agent over its
// tailnet: browser -> coderd (/@admin/ws/apps/bench/, app-token cookie) ->
// WireGuard over loopback -> agent -> app. Each iteration downloads one
// large body (32 MiB; 4 MiB under -short) and makes appSmallRequests small
// requests, through the proxy and directly, on kept-alive connections.
// Figures only:
//
//	go run ./scripts/testpg -- go test -tags ts_debug_websockets ./coderd -run '^$' -bench AppProxy -benchtime 5x
func BenchmarkAppProxy(b *testing.B) {
	size := 32 << 20
	if testing.Short() {
		size = 4 << 20
	}
	appURL := startBenchApp(b, size)
	d := newAppDeployment(b, appURL)
	d.startAgent(b)
	ctx := testutil.Context(b, 20*time.Minute)

	// Sign in to the app once with the session, as the dashboard's link
	// does; afterwards only the app-token cookie it sets is sent.
	proxied := strings.TrimSuffix(d.srv.URL.String(), "/") + "/@admin/ws/apps/bench"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, proxied+"/small", nil)
	require.NoError(b, err)
	req.AddCookie(&http.Cookie{Name: codersdk.SessionTokenCookie, Value: d.owner.SessionToken()})
	res, err := hc.Do(req)
	require.NoError(b, err)
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	require.Equal(b, http.StatusOK, res.StatusCode, "sign in to the app: %s", body)
	var appToken *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == workspaceapps.TokenCookie {
			appToken = c
		}
	}
	require.NotNil(b, appToken, "the proxy set no %s cookie", workspaceapps.TokenCookie)

	fetch := func(base, path string, want int) time.Duration {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		require.NoError(b, err)
		if base == proxied {
			req.AddCookie(&http.Cookie{Name: appToken.Name, Value: appToken.Value})
		}
		t0 := time.Now()
		res, err := hc.Do(req)
		require.NoError(b, err)
		n, err := io.Copy(io.Discard, res.Body)
		d := time.Since(t0)
		_ = res.Body.Close()
		require.NoError(b, err)
		require.Equal(b, http.StatusOK, res.StatusCode, "%s%s", base, path)
		require.EqualValues(b, want, n, "%s%s: body size", base, path)
		return d
	}
	direct := strings.TrimSuffix(appURL, "/")
	for _, base := range []string{proxied, direct} { // warm up both paths
		fetch(base, "/big", size)
		fetch(base, "/small", 2)
	}

	var proxyBig, directBig time.Duration
	var proxySmall, directSmall []time.Duration
	for b.Loop() {
		proxyBig += fetch(proxied, "/big", size)
		directBig += fetch(direct, "/big", size)
		for range appSmallRequests {
			proxySmall = append(proxySmall, fetch(proxied, "/small", 2))
			directSmall = append(directSmall, fetch(direct, "/small", 2))
		}
	}
	n := float64(b.N)
	proxyMBs := n * float64(size) / 1e6 / proxyBig.Seconds()
	directMBs := n * float64(size) / 1e6 / directBig.Seconds()
	b.ReportMetric(proxyMBs, "proxy-MB/s")
	b.ReportMetric(directMBs, "direct-MB/s")
	b.ReportMetric(directMBs/proxyMBs, "direct/proxy-MB/s")
	p50, _ := latencyPercentiles(proxySmall)
	d50, _ := latencyPercentiles(directSmall)
	b.ReportMetric(p50, "proxy-p50-ms")
	b.ReportMetric(d50, "direct-p50-ms")
	b.ReportMetric(p50/d50, "proxy/direct-p50")
}

// startBenchApp serves GET /big (size bytes) and GET /small ("ok") on
// 127.0.0.1 until the benchmark ends, and returns its base URL.
func startBenchApp(b *testing.B, size int) string {
	b.Helper()
	big := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
	mux := http.NewServeMux()
	mux.HandleFunc("GET /big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = w.Write(big)
	})
	mux.HandleFunc("GET /small", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	b.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			b.Errorf("bench app: %v", err)
		}
	})
	return fmt.Sprintf("http://%s/", l.Addr())
}

// newAppDeployment is newPTYDeployment whose agent has one path app,
// "bench", at appURL.
func newAppDeployment(b *testing.B, appURL string) *ptyDeployment {
	b.Helper()
	owner, srv := coderdtest.New(b, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	org := coderdtest.CreateFirstUser(b, owner).OrganizationID
	daemon := coderdtest.DaemonClient(owner)
	ctx := testutil.Context(b, time.Minute)
	v := coderdtest.CreateTemplateVersion(b, owner, org, mainTF, nil)
	coderdtest.CompleteImport(b, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "ws", VersionID: v.ID})
	require.NoError(b, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(b, err)
	token, daemonID := uuid.NewString(), uuid.New()
	job := coderdtest.AcquireJob(b, daemon, daemonID, nil)
	require.Equal(b, ws.LatestBuild.ID, job.WorkspaceBuild.WorkspaceBuildID)
	require.NoError(b, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID, WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{
		State: []byte("{}"),
		Resources: []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
			Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64",
			Apps: []codersdk.ProvisionerApp{{Slug: "bench", DisplayName: "Bench", URL: appURL, Share: "owner"}},
		}}}},
	}}))
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(b, err)
	return &ptyDeployment{srv: srv, owner: owner, agentID: ws.LatestBuild.Resources[0].Agents[0].ID, token: token}
}

// latencyPercentiles returns the median and 99th percentile in ms.
func latencyPercentiles(d []time.Duration) (p50, p99 float64) {
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
