package provisionerdserver

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
)

// Build outcomes, the status label of coderd_workspace_builds_total.
const (
	buildSucceeded = "success"
	buildFailed    = "failed"
)

// Metrics are the job server's Prometheus metrics. A nil *Metrics records
// nothing, so the server needs no checks where it counts.
type Metrics struct {
	builds *prometheus.CounterVec
}

// jobsDesc is computed at scrape time from the database, the one place
// that knows every replica's jobs.
var jobsDesc = prometheus.NewDesc("coderd_provisionerd_jobs_current",
	"Provisioner jobs not yet ended, deployment-wide, by state (pending: waiting for a daemon; running).", []string{"state"}, nil)

// scrapeTimeout bounds the scrape-time job count.
const scrapeTimeout = 5 * time.Second

// jobsCollector reports coderd_provisionerd_jobs_current.
type jobsCollector struct{ db *database.Store }

func (c jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	pending, running, err := c.db.CountActiveProvisionerJobs(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(pending), "pending")
	ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(running), "running")
}

// NewMetrics registers the job server's metrics on reg; the job gauges
// query db when scraped.
func NewMetrics(reg prometheus.Registerer, db *database.Store) (*Metrics, error) {
	m := &Metrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coderd", Name: "workspace_builds_total",
			Help: "Workspace builds that ended, by status (success, failed) and transition (start, stop, delete).",
		}, []string{"status", "transition"}),
	}
	for _, c := range []prometheus.Collector{m.builds, jobsCollector{db: db}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register provisioner metrics: %w", err)
		}
	}
	return m, nil
}

// countBuild counts a job that has just ended (its transaction committed)
// when it was a workspace build. It looks the build up again, outside the
// job's transaction: builds end rarely, and the lookup is skipped when
// metrics are off.
func (s *Server) countBuild(ctx context.Context, job database.ProvisionerJob, status string) {
	if s.opts.Metrics == nil || codersdk.ProvisionerJobType(job.Type) != codersdk.ProvisionerJobTypeWorkspaceBuild {
		return
	}
	build, err := s.opts.DB.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "count build in metrics", "job_id", job.ID, "error", err)
		return
	}
	s.opts.Metrics.builds.WithLabelValues(status, build.Transition).Inc()
}
