// Package scaletest simulates many workspace agents against coderd's agent
// API, without a workspace behind any of them: each simulated agent does
// what agent.Agent does over the network (manifest, startup and lifecycle
// reports, periodic stats, a coordination websocket holding its node) and
// nothing else, so one machine can drive thousands of them. It exists to
// measure what a deployment's replicas and PostgreSQL pay per agent
// (issue 12); BenchmarkScaleAgents runs it against two `coder server`
// processes on one PostgreSQL.
package scaletest

import (
	"slices"
	"sync"
	"time"
)

// Recorder collects the latencies of agent API requests. Requests finished
// while it is measuring (between Measure(true) and Measure(false)) are the
// steady state; the others (agents starting up) are kept apart, so the
// start-up burst does not blur the steady figures.
type Recorder struct {
	mu        sync.Mutex
	measuring bool
	startup   []time.Duration
	steady    []time.Duration
	errors    int
	lastErr   error
}

// Add records one request: its duration, or its error (counted, the last
// one kept for the report).
func (r *Recorder) Add(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		r.lastErr = err
		return
	}
	if r.measuring {
		r.steady = append(r.steady, d)
	} else {
		r.startup = append(r.startup, d)
	}
}

// Measure starts (true) or ends (false) the steady-state window.
func (r *Recorder) Measure(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.measuring = on
}

// Summary is what a Recorder saw.
type Summary struct {
	Startup, Steady Quantiles
	Errors          int
	LastErr         error
}

// Summary computes the quantiles so far.
func (r *Recorder) Summary() Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summary{Startup: NewQuantiles(r.startup), Steady: NewQuantiles(r.steady), Errors: r.errors, LastErr: r.lastErr}
}

// Quantiles of a set of durations (zero when the set is empty).
type Quantiles struct {
	N             int
	P50, P95, P99 time.Duration
	Max           time.Duration
}

// NewQuantiles sorts a copy of ds and picks the nearest-rank quantiles.
func NewQuantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(q*float64(len(s))+0.5) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Quantiles{N: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: s[len(s)-1]}
}

// Ms is d in milliseconds, for b.ReportMetric.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
