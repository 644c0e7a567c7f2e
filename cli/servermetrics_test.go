package cli

import (
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/testutil"
)

// TestServerPrometheus: --prometheus-address serves /metrics on its own
// listener, with coderd's request metrics, build info and the Go and
// process collectors, and the listener goes away with the server.
func TestServerPrometheus(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testutil.Context(t, testutil.WaitLong))
	defer cancel()
	inv, accessURL, metricsURL := startServerWithMetrics(ctx, t)

	resp, err := http.Get(accessURL + "/healthz")
	require.NoError(t, err)
	_ = resp.Body.Close()

	resp, err = http.Get(metricsURL)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	_ = resp.Body.Close()
	require.NoError(t, err)
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "coderd_build_info",
		"coderd_tailnet_coordinator_healthy", "coderd_tailnet_coordinator_peers"} {
		require.Contains(t, families, name)
	}
	found := false
	for _, m := range families["coderd_api_requests_processed_total"].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["path"] == "/healthz" && labels["code"] == "200" && labels["method"] == "GET" {
			found = m.GetCounter().GetValue() >= 1
		}
	}
	require.True(t, found, "no coderd_api_requests_processed_total for GET /healthz")

	resp, err = http.Get(strings.TrimSuffix(metricsURL, "metrics"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "/ serves the metrics too, as the incumbent's does")

	cancel()
	require.Zero(t, inv.wait(t, testutil.Context(t, testutil.WaitLong)), inv.stderr.String())
	_, err = net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(metricsURL, "http://"), "/metrics"))
	require.Error(t, err, "the metrics listener closes with the server")
}

// startServerWithMetrics starts `coder server --prometheus-address
// 127.0.0.1:0` until ctx ends and returns its access URL and metrics URL.
func startServerWithMetrics(ctx context.Context, t *testing.T) (inv *invocation, accessURL, metricsURL string) {
	t.Helper()
	e := newEnv(t)
	inv = e.start(ctx, nil, "server", "--http-address", "127.0.0.1:0", "--stun-address", "disable",
		"--provisioner-daemons", "0", "--postgres-url", dbtestutil.NewDB(t), "--prometheus-address", "127.0.0.1:0")
	inv.waitFor(t, &inv.stderr, "Press Ctrl+C")
	stderr := inv.stderr.String()
	m := regexp.MustCompile(`Prometheus metrics at (\S+)`).FindStringSubmatch(stderr)
	require.NotNil(t, m, stderr)
	a := regexp.MustCompile(`is running at (\S+)`).FindStringSubmatch(stderr)
	require.NotNil(t, a, stderr)
	return inv, a[1], m[1]
}

// TestServerPrometheusBadAddress: a bad --prometheus-address (or
// CODER_PROMETHEUS_ADDRESS) stops start-up at once, naming the flag.
func TestServerPrometheusBadAddress(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	for _, addr := range []string{"not-an-address", taken.Addr().String()} {
		e := newEnv(t)
		e.vars = map[string]string{"CODER_PROMETHEUS_ADDRESS": addr}
		stderr := e.fails("server", "--http-address", "127.0.0.1:0", "--stun-address", "disable", "--provisioner-daemons", "0")
		require.Contains(t, stderr, `--prometheus-address "`+addr+`"`)
		require.NotContains(t, stderr, "Starting built-in PostgreSQL", "fails before anything starts")
	}
}
