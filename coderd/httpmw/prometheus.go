package httpmw

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// unknownRoute labels requests no route matched at all, so a scan of random
// URLs adds one series, not one per URL.
const unknownRoute = "UNKNOWN"

// Prometheus counts and times API requests by chi route pattern (never the
// raw URL, which holds IDs and would give every workspace its own series),
// and gauges requests and websockets in flight. It registers its metrics on
// reg and fails if they are already there. Mount it on the top-level chi
// router: the pattern is read after the handler ran, when chi has filled it.
func Prometheus(reg prometheus.Registerer) (func(http.Handler) http.Handler, error) {
	const ns, sub = "coderd", "api"
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "requests_processed_total",
		Help: "The total number of processed API requests.",
	}, []string{"code", "method", "path"})
	latencies := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "request_latencies_seconds",
		Help:    "Latency distribution of API requests in seconds (websockets excluded: they live as long as the connection).",
		Buckets: []float64{0.001, 0.005, 0.010, 0.025, 0.050, 0.100, 0.500, 1, 5, 10, 30},
	}, []string{"method", "path"})
	concurrent := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "concurrent_requests",
		Help: "The number of API requests in flight (websockets included).",
	})
	websockets := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "concurrent_websockets",
		Help: "The number of websocket connections open on the API.",
	})
	for _, c := range []prometheus.Collector{requests, latencies, concurrent, websockets} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register API metrics: %w", err)
		}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ws := isWebsocket(r)
			concurrent.Inc()
			defer concurrent.Dec()
			if ws {
				websockets.Inc()
				defer websockets.Dec()
			}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)

			path := unknownRoute
			if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
				path = rctx.RoutePattern()
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			requests.WithLabelValues(strconv.Itoa(status), r.Method, path).Inc()
			if !ws {
				latencies.WithLabelValues(r.Method, path).Observe(time.Since(start).Seconds())
			}
		})
	}, nil
}

func isWebsocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
