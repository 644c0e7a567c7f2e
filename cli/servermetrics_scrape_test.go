package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// TestServerScrapedByPrometheus: a real Prometheus (Debian's, from make
// deps) scrapes `coder server --prometheus-address` and answers a query for
// coderd_api_requests_processed_total through its HTTP API.
func TestServerScrapedByPrometheus(t *testing.T) {
	t.Parallel()
	promBin, err := exec.LookPath("prometheus")
	require.NoError(t, err, "Prometheus is needed: apt-get install prometheus (make deps)")
	ctx, cancel := context.WithCancel(testutil.Context(t, testutil.WaitLong))
	defer cancel()
	inv, accessURL, metricsURL := startServerWithMetrics(ctx, t)
	resp, err := http.Get(accessURL + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()

	target := strings.TrimSuffix(strings.TrimPrefix(metricsURL, "http://"), "/metrics")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: coderd
    static_configs:
      - targets: [%q]
`, target)), 0o600))
	// A free port for Prometheus' own API (it cannot report a :0 port).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	promAddr := l.Addr().String()
	require.NoError(t, l.Close())
	promCtx, stopProm := context.WithCancel(ctx)
	prom := exec.CommandContext(promCtx, promBin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	var promOut testutil.LockedBuffer
	prom.Stdout, prom.Stderr = &promOut, &promOut
	require.NoError(t, prom.Start())
	defer func() {
		stopProm()
		_ = prom.Wait()
	}()

	query := "http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(`coderd_api_requests_processed_total{path="/healthz",code="200",method="GET"}`)
	var answer struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(query)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		if json.NewDecoder(resp.Body).Decode(&answer) != nil {
			return false
		}
		return answer.Status == "success" && len(answer.Data.Result) == 1
	}, time.Minute, 200*time.Millisecond, "Prometheus never returned the series; its output:\n%s", promOut.String())
	require.Equal(t, "coderd", answer.Data.Result[0].Metric["job"])
	require.Equal(t, target, answer.Data.Result[0].Metric["instance"])

	stopProm()
	_ = prom.Wait()
	cancel()
	require.Zero(t, inv.wait(t, testutil.Context(t, testutil.WaitLong)), inv.stderr.String())
}
