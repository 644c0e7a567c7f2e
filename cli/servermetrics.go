package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opencoder/coder/buildinfo"
)

// newMetricsRegistry is the server's own registry (never the global one):
// Go runtime, process and build-info metrics, to which coderd adds its own.
func newMetricsRegistry() (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "coderd", Name: "build_info",
		Help: "Always 1; the version label says which build is running.",
	}, []string{"version"})
	buildInfo.WithLabelValues(buildinfo.Version()).Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return reg, nil
}

// metricsServer serves /metrics on its own listener, apart from the API:
// scrapers need no session, and the port can stay off the public network.
type metricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan error
}

// listenMetrics binds addr now, so a bad --prometheus-address fails
// start-up before anything else starts.
func listenMetrics(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--prometheus-address %q: %w", addr, err)
	}
	return ln, nil
}

// serveMetrics serves reg on ln until close.
func serveMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, logger *slog.Logger) *metricsServer {
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		Registry: reg, // promhttp_metric_handler_errors_total
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", handler)
	mux.Handle("GET /{$}", handler) // the incumbent serves its metrics at /

	m := &metricsServer{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		},
		ln:   ln,
		done: make(chan error, 1),
	}
	go func() { m.done <- m.srv.Serve(ln) }()
	return m
}

// Addr is where /metrics is served.
func (m *metricsServer) Addr() net.Addr { return m.ln.Addr() }

// close stops the listener and waits for the serving goroutine.
func (m *metricsServer) close(ctx context.Context) error {
	err := m.srv.Shutdown(ctx)
	if err != nil {
		_ = m.srv.Close()
	}
	if serr := <-m.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
