package pubsub

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// counters are the bus's totals, kept as atomics so Publish and the
// listener pay no lock; Pubsub reports them as a prometheus.Collector.
type counters struct {
	publishOK, publishFailed, received atomic.Uint64
}

var (
	publishesDesc = prometheus.NewDesc("coderd_pubsub_publishes_total",
		"Messages published, by whether PostgreSQL accepted them (success: true or false).", []string{"success"}, nil)
	messagesDesc = prometheus.NewDesc("coderd_pubsub_messages_total",
		"Messages this process's listener received (its own control messages excluded).", nil, nil)
)

// Describe implements prometheus.Collector: register a Pubsub on a
// registry to export its counters.
func (p *Pubsub) Describe(ch chan<- *prometheus.Desc) {
	ch <- publishesDesc
	ch <- messagesDesc
}

// Collect implements prometheus.Collector.
func (p *Pubsub) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(publishesDesc, prometheus.CounterValue, float64(p.counters.publishOK.Load()), "true")
	ch <- prometheus.MustNewConstMetric(publishesDesc, prometheus.CounterValue, float64(p.counters.publishFailed.Load()), "false")
	ch <- prometheus.MustNewConstMetric(messagesDesc, prometheus.CounterValue, float64(p.counters.received.Load()))
}
