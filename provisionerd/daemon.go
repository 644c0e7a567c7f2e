package provisionerd

import (
	"context"
	"fmt"
	"github.com/opencoder/coder/backoff"
	"io"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/codersdk"
)

// Defaults for Options.
const (
	// DefaultHeartbeatInterval is how often a running job reports in even
	// when it has no logs. coderd reaps jobs silent for about 30s, so this
	// leaves room for several lost heartbeats.
	DefaultHeartbeatInterval = 5 * time.Second
	// DefaultLogFlushInterval is the longest a log line waits in the daemon:
	// short enough to feel live in `coder ... --follow`, long enough to
	// batch Terraform's bursts.
	DefaultLogFlushInterval = 250 * time.Millisecond
	// DefaultLogBatchSize lines are sent at once, without waiting.
	DefaultLogBatchSize = 100
	// DefaultAcquireWait is how long coderd may hold an acquire request.
	DefaultAcquireWait = 30 * time.Second
	// DefaultForceCancelGrace is how long a canceled runner that does not
	// say how long it needs (see InterruptGracer) may take to return.
	DefaultForceCancelGrace = 30 * time.Second
	// DefaultReportTimeout bounds the retries of the final report.
	DefaultReportTimeout = 5 * time.Minute

	// defaultRequestTimeout bounds each UpdateJob, CompleteJob and FailJob,
	// so a connection that died silently is noticed.
	defaultRequestTimeout = 30 * time.Second
	// acquireSlack is added to the long-poll wait for the acquire
	// request's own timeout.
	acquireSlack = 15 * time.Second
	// forceCancelMargin is added to a runner's interrupt grace: the time
	// to kill it and read the state it left.
	forceCancelMargin = 30 * time.Second
)

// JobRunner runs the jobs a daemon acquires. The Terraform one is
// TerraformRunner; tests and other provisioners bring their own. Methods
// are called concurrently, one call per job.
//
// When ctx is canceled (user cancel, daemon shutdown) the runner must stop
// promptly and return; Terraform is interrupted, not killed, so it can save
// its state. logf may be called from any goroutine, but not concurrently.
type JobRunner interface {
	// Import describes a template version. Errors are reported with
	// ErrorCode(err).
	Import(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) (*codersdk.CompletedTemplateImport, error)
	// Build runs a workspace build. A failed build may return a non-nil
	// result with the partial State alongside the error: the daemon
	// reports that state so coderd keeps it for the next build.
	Build(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) (*codersdk.CompletedWorkspaceBuild, error)
}

// InterruptGracer is implemented by runners that give their work a grace
// period after an interrupt (Terraform: finish in-flight operations, write
// state). The daemon then waits that long, plus a margin, before it fails a
// canceled job without the runner's result.
type InterruptGracer interface {
	InterruptGrace() time.Duration
}

// Options configure a Daemon. Zero values get the documented defaults.
type Options struct {
	// ID identifies the daemon to coderd (worker_id of its jobs); random
	// if zero. All of the daemon's acquire loops share it.
	ID uuid.UUID
	// Name is shown in `coder provisioner list` and in job logs.
	Name string
	// Tags are matched against jobs' tags: a job runs here only if every
	// one of its tags is among these. coderd may add defaults (scope).
	Tags map[string]string
	// Provisioners are the provisioner types served; ["terraform"].
	Provisioners []string
	// Version is reported to coderd; buildinfo.Version() if empty.
	Version string
	// Concurrency is how many jobs run at once (1).
	Concurrency int
	// Runner runs the jobs. Required.
	Runner JobRunner
	// Logger receives the daemon's own diagnostics; discarded if nil.
	Logger *slog.Logger

	// HeartbeatInterval is the longest a running job goes without an
	// UpdateJob (DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
	// LogFlushInterval is the longest a log line waits before it is sent
	// (DefaultLogFlushInterval); LogBatchSize lines are sent at once
	// (DefaultLogBatchSize).
	LogFlushInterval time.Duration
	LogBatchSize     int
	// AcquireWait is how long coderd may hold an acquire long poll
	// (DefaultAcquireWait); whole seconds.
	AcquireWait time.Duration
	// ForceCancelGrace is how long a canceled job's runner may take to
	// return before the job is failed without its result. Zero means the
	// runner's InterruptGrace plus 30s if it implements InterruptGracer,
	// else DefaultForceCancelGrace. Keep it above the runner's interrupt
	// grace, or the partial state of an interrupted build may be lost.
	ForceCancelGrace time.Duration
	// ReportTimeout bounds the retries of a job's final flush and report,
	// for example while coderd restarts (DefaultReportTimeout).
	ReportTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delays
	// (backoff.DefaultMin, backoff.DefaultMax).
	BackoffMin, BackoffMax time.Duration
}

// Stats are the daemon's counters since New, for tests and metrics.
type Stats struct {
	// Acquired counts jobs received from coderd.
	Acquired int64
	// Succeeded, Failed and Canceled count jobs by outcome (Canceled: by a
	// user; jobs interrupted by a shutdown count as Failed).
	Succeeded, Failed, Canceled int64
	// Lost counts jobs coderd took away (reaped or reassigned).
	Lost int64
	// Running is the number of jobs running now.
	Running int64
}

// Daemon acquires and runs jobs. Create it with New, then Start it; stop it
// with Shutdown (drain) or Close (interrupt).
//
// Lifecycle: Start launches Concurrency acquire loops; each runs the jobs it
// acquires on its own goroutine, so Shutdown and Close join every goroutine
// by waiting for the loops (see done).
type Daemon struct {
	// Set by New, then read-only.
	client           *codersdk.Client
	opts             Options
	logger           *slog.Logger
	forceCancelGrace time.Duration
	// acquireCtx ends when the daemon stops taking new jobs (Shutdown,
	// Close, or a fatal acquire error).
	acquireCtx    context.Context
	stopAcquiring context.CancelFunc
	// hardCtx ends, with cause ErrDaemonShutdown, when running jobs must be
	// interrupted (Close, or Shutdown's ctx expired).
	hardCtx    context.Context
	interrupt  context.CancelCauseFunc
	done       chan struct{} // closed when every loop (and its job) returned
	conn       *connState
	wg         sync.WaitGroup // the acquire loops
	acquireReq codersdk.AcquireJobRequest

	mu      sync.Mutex
	started bool  // guarded by mu
	stopped bool  // Shutdown or Close was called; guarded by mu
	fatal   error // why the daemon stopped on its own; guarded by mu

	acquired, succeeded, failed, canceled, lost, running atomic.Int64
}

// New returns a daemon that is not running yet. It panics if opts.Runner is
// nil: that is a programming error, not a runtime condition.
func New(client *codersdk.Client, opts Options) *Daemon {
	if opts.Runner == nil {
		panic("provisionerd.New: Options.Runner is nil")
	}
	if opts.ID == uuid.Nil {
		opts.ID = uuid.New()
	}
	if opts.Name == "" {
		opts.Name = opts.ID.String()[:8]
	}
	if opts.Version == "" {
		opts.Version = buildinfo.Version()
	}
	if len(opts.Provisioners) == 0 {
		opts.Provisioners = []string{"terraform"}
	}
	opts.Tags = maps.Clone(opts.Tags)
	if opts.Tags == nil {
		opts.Tags = map[string]string{}
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	orDefault(&opts.Concurrency, 1)
	orDefault(&opts.HeartbeatInterval, DefaultHeartbeatInterval)
	orDefault(&opts.LogFlushInterval, DefaultLogFlushInterval)
	orDefault(&opts.LogBatchSize, DefaultLogBatchSize)
	orDefault(&opts.AcquireWait, DefaultAcquireWait)
	orDefault(&opts.ReportTimeout, DefaultReportTimeout)
	orDefault(&opts.BackoffMin, backoff.DefaultMin)
	orDefault(&opts.BackoffMax, backoff.DefaultMax)
	grace := opts.ForceCancelGrace
	if grace <= 0 {
		grace = DefaultForceCancelGrace
		if g, ok := opts.Runner.(InterruptGracer); ok && g.InterruptGrace() > 0 {
			grace = g.InterruptGrace() + forceCancelMargin
		}
	}
	logger := opts.Logger.With(slog.String("daemon", opts.Name))
	d := &Daemon{
		client:           client,
		opts:             opts,
		logger:           logger,
		forceCancelGrace: grace,
		done:             make(chan struct{}),
		conn:             &connState{logger: logger},
		acquireReq: codersdk.AcquireJobRequest{
			DaemonID:     opts.ID,
			Name:         opts.Name,
			Version:      opts.Version,
			Provisioners: opts.Provisioners,
			Tags:         opts.Tags,
			WaitSeconds:  int((opts.AcquireWait + time.Second - 1) / time.Second),
		},
	}
	d.acquireCtx, d.stopAcquiring = context.WithCancel(context.Background())
	d.hardCtx, d.interrupt = context.WithCancelCause(context.Background())
	return d
}

// ID is the daemon's ID, as coderd knows it.
func (d *Daemon) ID() uuid.UUID { return d.opts.ID }

// Start begins acquiring jobs. It returns at once; calling it again, or
// after Shutdown or Close, does nothing.
func (d *Daemon) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.stopped {
		return
	}
	d.started = true
	d.logger.Info("provisioner daemon started",
		slog.String("id", d.opts.ID.String()), slog.Any("tags", d.opts.Tags),
		slog.Int("concurrency", d.opts.Concurrency))
	for i := range d.opts.Concurrency {
		d.wg.Add(1)
		go d.acquireLoop(i)
	}
	go func() {
		d.wg.Wait()
		close(d.done)
	}()
}

// Done is closed when the daemon has stopped: after Shutdown or Close, or
// on its own after a fatal error (see Err) once its running jobs ended.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Err says why a daemon stopped on its own: coderd rejected its
// credentials, or does not serve the provisioner protocol. Nil otherwise.
func (d *Daemon) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fatal
}

// Stats returns the daemon's counters.
func (d *Daemon) Stats() Stats {
	return Stats{
		Acquired:  d.acquired.Load(),
		Succeeded: d.succeeded.Load(),
		Failed:    d.failed.Load(),
		Canceled:  d.canceled.Load(),
		Lost:      d.lost.Load(),
		Running:   d.running.Load(),
	}
}

// stop marks the daemon stopped and stops acquiring. It reports whether the
// daemon had been started (and so has goroutines to wait for).
func (d *Daemon) stop() bool {
	d.mu.Lock()
	d.stopped = true
	started := d.started
	d.mu.Unlock()
	d.stopAcquiring()
	if !started {
		d.closeDoneOnce()
	}
	return started
}

// closeDoneOnce closes done for a daemon that was never started.
func (d *Daemon) closeDoneOnce() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.done:
	default:
		close(d.done)
	}
}

// Shutdown stops acquiring and waits for running jobs to finish. If ctx
// ends first, the jobs are interrupted (Terraform gets an interrupt and
// ForceCancelGrace to stop) and reported failed with DAEMON_SHUTDOWN;
// Shutdown then returns ctx's error once every job was reported. A job is
// never abandoned without a report unless coderd stays unreachable past
// ReportTimeout.
func (d *Daemon) Shutdown(ctx context.Context) error {
	if !d.stop() {
		return nil
	}
	if running := d.running.Load(); running > 0 {
		d.logger.Info("shutting down: waiting for running jobs", slog.Int64("jobs", running))
	}
	select {
	case <-d.done:
		return nil
	case <-ctx.Done():
	}
	d.interrupt(fmt.Errorf("%w: its shutdown grace period ran out", ErrDaemonShutdown))
	<-d.done
	return ctx.Err()
}

// Close stops acquiring, interrupts running jobs, reports them failed with
// DAEMON_SHUTDOWN and returns once they are reported. It is idempotent.
func (d *Daemon) Close() error {
	if !d.stop() {
		return nil
	}
	d.interrupt(fmt.Errorf("%w: it was closed", ErrDaemonShutdown))
	<-d.done
	return nil
}

// setFatal records why the daemon stops on its own and stops acquiring.
func (d *Daemon) setFatal(err error) {
	d.mu.Lock()
	first := d.fatal == nil
	if first {
		d.fatal = err
	}
	d.mu.Unlock()
	if first {
		d.logger.Error("coderd refused this daemon; it stops acquiring jobs", slog.Any("error", err))
	}
	d.stopAcquiring()
}

// acquireLoop asks coderd for a job, runs it, and asks again, until the
// daemon stops acquiring.
func (d *Daemon) acquireLoop(slot int) {
	defer d.wg.Done()
	logger := d.logger.With(slog.Int("slot", slot))
	bo := backoff.NewSeeded(d.opts.BackoffMin, d.opts.BackoffMax, uint64(time.Now().UnixNano())+uint64(slot))
	for d.acquireCtx.Err() == nil {
		start := time.Now()
		ctx, cancel := context.WithTimeout(d.acquireCtx, d.opts.AcquireWait+acquireSlack)
		job, err := d.client.AcquireJob(ctx, d.acquireReq)
		cancel()
		switch {
		case err != nil && d.acquireCtx.Err() != nil && job == nil:
			return
		case err != nil && fatalAcquireError(err):
			d.conn.observe(nil)
			d.setFatal(fmt.Errorf("acquire job: %w", err))
			return
		case err != nil:
			d.conn.observe(err)
			logger.Debug("acquire job failed", slog.Any("error", err))
			bo.Wait(d.acquireCtx)
			continue
		}
		d.conn.observe(nil)
		if job == nil {
			// An empty answer well before the wait ended: coderd is
			// shutting down or does not long-poll. Do not spin.
			if time.Since(start) < d.opts.AcquireWait/2 {
				bo.Wait(d.acquireCtx)
			} else {
				bo.Reset()
			}
			continue
		}
		bo.Reset()
		// A job that arrived is run even if Shutdown began meanwhile: it is
		// ours now, and Shutdown's contract is to finish running jobs.
		d.runJob(job)
	}
}

// connState tracks whether coderd is reachable, daemon-wide, so an outage
// is logged once when it starts and once when it ends, however many loops
// and jobs retry meanwhile.
type connState struct {
	logger *slog.Logger

	mu        sync.Mutex
	downSince time.Time // zero while connected; guarded by mu
}

// observe records the outcome of a call to coderd: nil or an answer from
// coderd (any error that classify does not retry) means it is reachable.
func (c *connState) observe(err error) {
	down := err != nil && classify(err) == callRetry
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case down && c.downSince.IsZero():
		c.downSince = time.Now()
		c.logger.Warn("cannot reach coderd; retrying with backoff until it is back", slog.Any("error", err))
	case !down && !c.downSince.IsZero():
		c.logger.Info("reconnected to coderd", slog.Duration("outage", time.Since(c.downSince).Round(time.Millisecond)))
		c.downSince = time.Time{}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// orDefault sets an unset (zero or negative) option to its default.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
