package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// scriptedApp is a real HTTP server whose n-th answer is script[n]; once
// the script is used up it answers 200 and, the first time, signals done.
// It answers nothing before the test opens the gate, so the test knows
// what the agent has seen.
type scriptedApp struct {
	srv    *httptest.Server
	gate   chan struct{}
	mu     sync.Mutex
	script []int
	calls  int
	done   chan struct{}
}

func newScriptedApp(t *testing.T, script ...int) *scriptedApp {
	t.Helper()
	s := &scriptedApp{script: script, gate: make(chan struct{}), done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-s.gate:
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
		code := http.StatusOK
		if s.calls < len(s.script) {
			code = s.script[s.calls]
		} else if s.calls == len(s.script) {
			close(s.done)
		}
		s.calls++
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// recordingReporter collects every batch the agent sends, as the fake
// coderd the reporter talks to.
type recordingReporter struct {
	mu      sync.Mutex
	batches []map[string]codersdk.WorkspaceAppHealth
	got     chan map[string]codersdk.WorkspaceAppHealth
	// fail, while positive, fails that many reports with err; refused,
	// when set, is closed once they all failed.
	fail    int
	err     error
	refused chan struct{}
}

func newRecordingReporter() *recordingReporter {
	return &recordingReporter{got: make(chan map[string]codersdk.WorkspaceAppHealth, 100)}
}

func (r *recordingReporter) report(_ context.Context, healths map[string]codersdk.WorkspaceAppHealth) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		if r.fail == 0 && r.refused != nil {
			close(r.refused)
		}
		return r.err
	}
	cp := make(map[string]codersdk.WorkspaceAppHealth, len(healths))
	for k, v := range healths {
		cp[k] = v
	}
	r.batches = append(r.batches, cp)
	r.got <- cp
	return nil
}

// next waits for the next accepted batch.
func (r *recordingReporter) next(ctx context.Context, t *testing.T) map[string]codersdk.WorkspaceAppHealth {
	t.Helper()
	select {
	case b := <-r.got:
		return b
	case <-ctx.Done():
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("no further app health report; got %v", r.batches)
		return nil
	}
}

// runHealth runs an appHealth until the test ends and joins it.
func runHealth(t *testing.T, opts appHealthOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		newAppHealth(opts).run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// An app that fails once, answers (404 counts: any answer below 500),
// fails fewer than threshold times in a row, recovers, and then stops
// listening is reported initializing, healthy, and unhealthy only after
// threshold consecutive failures: no other report, in that order.
func TestAppHealthSequence(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	app := newScriptedApp(t, 500, 404, 500, 503, 200)
	rep := newRecordingReporter()
	runHealth(t, appHealthOptions{
		Checks: []appHealthCheck{{slug: "web", url: app.srv.URL + "/healthz", interval: 5 * time.Millisecond, timeout: time.Second, threshold: 3}},
		Report: rep.report, Logger: testutil.Logger(t), BatchWindow: -1, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
	})

	require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthInitializing}, rep.next(ctx, t))
	close(app.gate)
	require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthHealthy}, rep.next(ctx, t))
	select {
	case <-app.done: // the script ran out: 500 and 503 did not make it unhealthy
	case <-ctx.Done():
		t.Fatal("the app was not probed through its script")
	}
	app.srv.Close() // connection refused from now on
	require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthUnhealthy}, rep.next(ctx, t))

	rep.mu.Lock()
	defer rep.mu.Unlock()
	require.Len(t, rep.batches, 3, "only changes are reported: %v", rep.batches)
}

// While coderd fails, probing goes on and the reporter retries with the
// latest state; a change that happened meanwhile is not lost, and the
// first accepted report carries every app in one batch.
func TestAppHealthReportRetries(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	up := newScriptedApp(t)
	close(up.gate)
	down := newScriptedApp(t)
	down.srv.Close()
	rep := newRecordingReporter()
	rep.fail, rep.err = 3, errors.New("coderd is down")
	runHealth(t, appHealthOptions{
		Checks: []appHealthCheck{
			{slug: "up", url: up.srv.URL, interval: 5 * time.Millisecond, timeout: time.Second, threshold: 2},
			{slug: "down", url: down.srv.URL, interval: 5 * time.Millisecond, timeout: time.Second, threshold: 2},
		},
		Report: rep.report, Logger: testutil.Logger(t), BatchWindow: -1, RetryMin: 20 * time.Millisecond, RetryMax: 40 * time.Millisecond,
	})
	// Whatever batches the retries happen to form, the last state of each
	// app reaches coderd.
	last := map[string]codersdk.WorkspaceAppHealth{}
	for last["up"] != codersdk.WorkspaceAppHealthHealthy || last["down"] != codersdk.WorkspaceAppHealthUnhealthy {
		for k, v := range rep.next(ctx, t) {
			last[k] = v
		}
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	require.Zero(t, rep.fail, "the failed reports were retried")
}

// A report coderd refuses with a 4xx is dropped, not retried forever, and
// later changes are still sent.
func TestAppHealthReportRefusedIsDropped(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	app := newScriptedApp(t)
	rep := newRecordingReporter()
	rep.fail, rep.err = 1, status(http.StatusBadRequest) // the initial report
	rep.refused = make(chan struct{})
	runHealth(t, appHealthOptions{
		Checks: []appHealthCheck{{slug: "web", url: app.srv.URL, interval: 5 * time.Millisecond, timeout: time.Second, threshold: 1}},
		Report: rep.report, Logger: testutil.Logger(t), BatchWindow: -1, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
	})
	select {
	case <-rep.refused:
	case <-ctx.Done():
		t.Fatal("the initial report was not sent")
	}
	close(app.gate)
	require.Equal(t, map[string]codersdk.WorkspaceAppHealth{"web": codersdk.WorkspaceAppHealthHealthy}, rep.next(ctx, t))
}

// The manifest's checks get sane bounds: at least a second between probes,
// a timeout no longer than the interval, at least one failure to turn
// unhealthy; apps without a check are not probed.
func TestAppHealthChecksFromManifest(t *testing.T) {
	t.Parallel()
	checks := appHealthChecks([]codersdk.ProvisionerApp{
		{Slug: "plain"},
		{Slug: "empty-url", Healthcheck: &codersdk.ProvisionerAppHealthcheck{Interval: 5, Threshold: 6}},
		{Slug: "zero", Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:1/"}},
		{Slug: "slow", Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:2/", Interval: 120, Threshold: 6}},
	})
	require.Equal(t, []appHealthCheck{
		{slug: "zero", url: "http://localhost:1/", interval: time.Second, timeout: time.Second, threshold: 1},
		{slug: "slow", url: "http://localhost:2/", interval: 2 * time.Minute, timeout: maxAppHealthTimeout, threshold: 6},
	}, checks)
}
