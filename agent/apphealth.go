package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// App health checks: the agent probes every app whose coder_app declares a
// healthcheck and tells coderd when an app's health changes. The semantics
// are the incumbent's: an app is initializing until its first successful
// probe (healthy) or until threshold consecutive failed probes
// (unhealthy); any HTTP answer below 500 is a success, a 5xx, a timeout or
// a connection error a failure. After that a success makes the app
// healthy and threshold consecutive failures unhealthy again.
//
// Probing never waits for coderd: each app has its own probe loop, which
// only records state changes; one reporter sends what changed, in batches,
// and retries with backoff while coderd is unreachable, always sending the
// latest state of each app.

const (
	// minAppHealthInterval is the shortest probe interval the agent
	// honours, whatever the template says.
	minAppHealthInterval = time.Second
	// maxAppHealthTimeout bounds one probe; otherwise a probe may take up
	// to the interval, so probes of one app never overlap.
	maxAppHealthTimeout = 30 * time.Second
	// appHealthBatchWindow is how long the reporter waits after the first
	// change before sending, so the changes of apps that start together
	// go to coderd in one request.
	appHealthBatchWindow = 250 * time.Millisecond
)

// appHealthCheck is one app's probe schedule.
type appHealthCheck struct {
	slug      string
	url       string
	interval  time.Duration
	timeout   time.Duration
	threshold int
}

// appHealthChecks are the probes of the manifest's apps with a health
// check, with the interval, timeout and threshold bounded to sane values.
func appHealthChecks(apps []codersdk.ProvisionerApp) []appHealthCheck {
	var out []appHealthCheck
	for _, app := range apps {
		hc := app.Healthcheck
		if hc == nil || hc.URL == "" {
			continue
		}
		c := appHealthCheck{slug: app.Slug, url: hc.URL, interval: time.Duration(hc.Interval) * time.Second, threshold: int(hc.Threshold)}
		c.interval = max(c.interval, minAppHealthInterval)
		c.timeout = min(c.interval, maxAppHealthTimeout)
		c.threshold = max(c.threshold, 1)
		out = append(out, c)
	}
	return out
}

// appHealthReporter sends a batch of health changes (app slug -> health)
// to coderd.
type appHealthReporter func(ctx context.Context, healths map[string]codersdk.WorkspaceAppHealth) error

// appHealthOptions configure an appHealth; tests shorten the delays.
type appHealthOptions struct {
	Checks []appHealthCheck
	Report appHealthReporter
	Logger *slog.Logger
	// BatchWindow defaults to appHealthBatchWindow; negative means none.
	BatchWindow time.Duration
	// RetryMin and RetryMax bound the report backoff (backoff's defaults
	// when zero).
	RetryMin, RetryMax time.Duration
}

// appHealth probes apps and reports their health changes. Its run method
// owns every goroutine it starts.
type appHealth struct {
	// Set at construction, then read-only.
	opts   appHealthOptions
	log    *slog.Logger
	client *http.Client
	wake   chan struct{} // capacity 1: pending has something new

	mu       sync.Mutex                             // guards the fields below
	pending  map[string]codersdk.WorkspaceAppHealth // changed, not yet sent
	reported map[string]codersdk.WorkspaceAppHealth // what coderd last accepted
}

func newAppHealth(opts appHealthOptions) *appHealth {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.BatchWindow == 0 {
		opts.BatchWindow = appHealthBatchWindow
	}
	// Probes go straight to the app: never through the workspace's
	// HTTP(S)_PROXY, never following a redirect (a 3xx is an answer, so
	// healthy), and on a fresh connection each time, so a probe tells
	// whether the app still accepts connections.
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true, ResponseHeaderTimeout: maxAppHealthTimeout}
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &appHealth{
		opts: opts, log: opts.Logger, client: client, wake: make(chan struct{}, 1),
		pending: map[string]codersdk.WorkspaceAppHealth{}, reported: map[string]codersdk.WorkspaceAppHealth{},
	}
}

// run probes every app and reports changes until ctx ends, and returns
// once every goroutine it started has ended. It first reports every
// checked app as initializing, so a restarted agent does not leave the
// previous process's verdict on show.
func (h *appHealth) run(ctx context.Context) {
	if len(h.opts.Checks) == 0 {
		return
	}
	for _, c := range h.opts.Checks {
		h.set(c.slug, codersdk.WorkspaceAppHealthInitializing)
	}
	var wg sync.WaitGroup
	for _, c := range h.opts.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.probeLoop(ctx, c)
		}()
	}
	h.reportLoop(ctx)
	wg.Wait()
}

// probeLoop probes one app every interval until ctx ends, recording each
// change of its health.
func (h *appHealth) probeLoop(ctx context.Context, c appHealthCheck) {
	log := h.log.With("app", c.slug, "url", c.url)
	health := codersdk.WorkspaceAppHealthInitializing
	failures := 0
	for {
		err := h.probe(ctx, c)
		if ctx.Err() != nil {
			return
		}
		next := health
		if err == nil {
			failures = 0
			next = codersdk.WorkspaceAppHealthHealthy
		} else {
			failures++
			log.Debug("app health check failed", "failures", failures, "threshold", c.threshold, "error", err)
			if failures >= c.threshold {
				next = codersdk.WorkspaceAppHealthUnhealthy
			}
		}
		if next != health {
			health = next
			if err != nil {
				log.Warn("app is unhealthy", "failures", failures, "error", err)
			} else {
				log.Info("app is healthy")
			}
			h.set(c.slug, health)
		}
		if !sleep(ctx, c.interval) {
			return
		}
	}
}

// probe makes one GET of the app's health check URL: nil for any answer
// below 500.
func (h *appHealth) probe(ctx context.Context, c appHealthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("health check url: %w", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("get health check url: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("health check answered %s", resp.Status)
	}
	return nil
}

// set records an app's new health for the reporter.
func (h *appHealth) set(slug string, health codersdk.WorkspaceAppHealth) {
	h.mu.Lock()
	h.pending[slug] = health
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// takePending returns the changes coderd has not accepted yet and clears
// them.
func (h *appHealth) takePending() map[string]codersdk.WorkspaceAppHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	batch := map[string]codersdk.WorkspaceAppHealth{}
	for slug, health := range h.pending {
		if last, ok := h.reported[slug]; !ok || last != health {
			batch[slug] = health
		}
	}
	clear(h.pending)
	return batch
}

// settle records the outcome of sending batch: accepted, or put back for
// a retry unless a newer change of the same app has been recorded since.
func (h *appHealth) settle(batch map[string]codersdk.WorkspaceAppHealth, accepted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for slug, health := range batch {
		if accepted {
			h.reported[slug] = health
		} else if _, newer := h.pending[slug]; !newer {
			h.pending[slug] = health
		}
	}
}

// reportLoop sends the recorded changes until ctx ends (batchReporter).
func (h *appHealth) reportLoop(ctx context.Context) {
	batchReporter[map[string]codersdk.WorkspaceAppHealth]{
		log: h.log, what: "app health", wake: h.wake, batchWindow: h.opts.BatchWindow,
		retryMin: h.opts.RetryMin, retryMax: h.opts.RetryMax,
		take: func() (map[string]codersdk.WorkspaceAppHealth, bool) {
			b := h.takePending()
			return b, len(b) > 0
		},
		report: h.opts.Report, settle: h.settle,
	}.run(ctx)
}

// appHealthLoop runs the health checks of the manifest's apps until ctx
// ends, reporting to coderd.
func (a *Agent) appHealthLoop(ctx context.Context) {
	checks := appHealthChecks(a.manifest.Apps)
	if len(checks) == 0 {
		return
	}
	newAppHealth(appHealthOptions{
		Checks: checks,
		Logger: a.log.With("component", "apphealth"),
		Report: func(ctx context.Context, healths map[string]codersdk.WorkspaceAppHealth) error {
			return a.opts.Client.PostWorkspaceAppHealth(ctx, codersdk.PostWorkspaceAppHealthsRequest{Healths: healths})
		},
	}).run(ctx)
}
