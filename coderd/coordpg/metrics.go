package coordpg

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Prometheus metrics (issue 12: coordinator peers and update latency).
// Register a Coordinator on a registry to export them; label values come
// from fixed sets only.

var (
	localPeersDesc = prometheus.NewDesc("coderd_tailnet_coordinator_peers",
		"Peers coordinating through this replica, by type (agent or client).", []string{"type"}, nil)
	remotePeersDesc = prometheus.NewDesc("coderd_tailnet_coordinator_remote_peers",
		"Peers of other replicas whose nodes this replica follows for its own peers.", nil, nil)
	healthyDesc = prometheus.NewDesc("coderd_tailnet_coordinator_healthy",
		"1 while the shared coordinator serves; 0 while it cannot reach PostgreSQL and refuses peers.", nil, nil)
	writesDesc = prometheus.NewDesc("coderd_tailnet_coordinator_writes_total",
		"Batches of local changes written to PostgreSQL, by success (true or false).", []string{"success"}, nil)
	deliveredDesc = prometheus.NewDesc("coderd_tailnet_coordinator_remote_updates_total",
		"Updates about other replicas' peers delivered to this replica's peers.", nil, nil)
	deadDesc = prometheus.NewDesc("coderd_tailnet_coordinator_dead_removed_total",
		"Dead coordinators this replica removed (each is removed by one replica).", nil, nil)
)

// metrics are the coordinator's counters (atomics: the loops pay no lock)
// and the write latency histogram.
type metrics struct {
	writesOK, writesFailed, delivered, deadRemoved atomic.Uint64
	writeSeconds                                   prometheus.Histogram
}

func newMetrics() metrics {
	return metrics{writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "coderd_tailnet_coordinator_write_seconds",
		Help: "Time to write one batch of local changes (and their NOTIFYs) to PostgreSQL: the replica's share of a node update's trip to another replica.",
		// 1 ms .. ~4 s.
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 13),
	})}
}

// Describe implements prometheus.Collector.
func (c *Coordinator) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{localPeersDesc, remotePeersDesc, healthyDesc, writesDesc, deliveredDesc, deadDesc} {
		ch <- d
	}
	c.m.writeSeconds.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *Coordinator) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	agents, clients := 0, 0
	for _, agent := range c.local {
		if agent {
			agents++
		} else {
			clients++
		}
	}
	remote := len(c.r.watch)
	healthy := 0.0
	if c.healthy {
		healthy = 1
	}
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(localPeersDesc, prometheus.GaugeValue, float64(agents), "agent")
	ch <- prometheus.MustNewConstMetric(localPeersDesc, prometheus.GaugeValue, float64(clients), "client")
	ch <- prometheus.MustNewConstMetric(remotePeersDesc, prometheus.GaugeValue, float64(remote))
	ch <- prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, healthy)
	ch <- prometheus.MustNewConstMetric(writesDesc, prometheus.CounterValue, float64(c.m.writesOK.Load()), "true")
	ch <- prometheus.MustNewConstMetric(writesDesc, prometheus.CounterValue, float64(c.m.writesFailed.Load()), "false")
	ch <- prometheus.MustNewConstMetric(deliveredDesc, prometheus.CounterValue, float64(c.m.delivered.Load()))
	ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.CounterValue, float64(c.m.deadRemoved.Load()))
	c.m.writeSeconds.Collect(ch)
}
