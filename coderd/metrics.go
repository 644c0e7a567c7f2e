package coderd

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics are coderd's own gauges beyond the request middleware's. A
// nil *apiMetrics records nothing (Options.PrometheusRegistry unset).
type apiMetrics struct {
	agentConns prometheus.Gauge
}

func newAPIMetrics(reg prometheus.Registerer) (*apiMetrics, error) {
	m := &apiMetrics{
		agentConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "coderd", Name: "agents_connections",
			Help: "Workspace agents connected to coderd: their open coordination websockets.",
		}),
	}
	if err := reg.Register(m.agentConns); err != nil {
		return nil, fmt.Errorf("register coderd metrics: %w", err)
	}
	return m, nil
}

// agentConnected counts one agent connection until the returned func runs.
func (m *apiMetrics) agentConnected() (disconnected func()) {
	if m == nil {
		return func() {}
	}
	m.agentConns.Inc()
	return m.agentConns.Dec
}
