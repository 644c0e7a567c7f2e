package httpmw_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/httpmw"
)

// metricValue returns the value of the series name{labels} in reg, and
// whether it exists.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func TestPrometheus(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	mw, err := httpmw.Prometheus(reg)
	require.NoError(t, err)
	// The outer middleware reports each request once the metrics
	// middleware has finished recording it, so the test never races it.
	served := make(chan string, 16)
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			served <- r.URL.Path
		})
	}, mw, httpmw.Logger(slog.New(slog.DiscardHandler)))
	r.Get("/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if chi.URLParam(r, "id") == "bad" {
			http.Error(w, "bad id", http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	inWS := make(chan struct{})
	r.Get("/ws/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		close(inWS)
		_, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		_ = c.Write(r.Context(), websocket.MessageText, msg)
		_, _, _ = c.Read(r.Context()) // until the client closes
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, path, <-served)
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, get("/items/1"))
	require.Equal(t, http.StatusOK, get("/items/2"))
	require.Equal(t, http.StatusBadRequest, get("/items/bad"))
	require.Equal(t, http.StatusNotFound, get("/nowhere/"+strings.Repeat("x", 10)))

	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/ws/7", nil)
	require.NoError(t, err, "the upgrade must pass through the metrics middleware")
	<-inWS
	require.NoError(t, conn.Write(ctx, websocket.MessageText, []byte("ping")))
	_, echo, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "ping", string(echo))
	// The handler is blocked reading: the websocket is open.
	require.Equal(t, 1.0, mustValue(t, reg, "coderd_api_concurrent_websockets", nil))
	require.Equal(t, 1.0, mustValue(t, reg, "coderd_api_concurrent_requests", nil))
	require.NoError(t, conn.Close(websocket.StatusNormalClosure, ""))
	require.Equal(t, "/ws/7", <-served)

	const total = "coderd_api_requests_processed_total"
	require.Equal(t, 2.0, mustValue(t, reg, total, map[string]string{"code": "200", "method": "GET", "path": "/items/{id}"}))
	require.Equal(t, 1.0, mustValue(t, reg, total, map[string]string{"code": "400", "method": "GET", "path": "/items/{id}"}))
	require.Equal(t, 1.0, mustValue(t, reg, total, map[string]string{"code": "404", "method": "GET", "path": "UNKNOWN"}))
	require.Equal(t, 1.0, mustValue(t, reg, total, map[string]string{"code": "101", "method": "GET", "path": "/ws/{id}"}))
	require.Equal(t, 3.0, mustValue(t, reg, "coderd_api_request_latencies_seconds", map[string]string{"method": "GET", "path": "/items/{id}"}))
	_, ok := metricValue(t, reg, "coderd_api_request_latencies_seconds", map[string]string{"path": "/ws/{id}"})
	require.False(t, ok, "websockets are not timed")
	require.Equal(t, 0.0, mustValue(t, reg, "coderd_api_concurrent_websockets", nil))
	require.Equal(t, 0.0, mustValue(t, reg, "coderd_api_concurrent_requests", nil))
	// Bounded cardinality: the raw URLs never become labels.
	require.Equal(t, 4, testutil.CollectAndCount(reg, total))

	_, err = httpmw.Prometheus(reg)
	require.Error(t, err, "registering twice on one registry fails")
}

func mustValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := metricValue(t, reg, name, labels)
	require.True(t, ok, "no series %s%v", name, labels)
	return v
}
