package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// metadataRecorder is the fake coderd the metadata reporter talks to: it
// keeps every accepted report.
type metadataRecorder struct {
	mu   sync.Mutex
	all  []codersdk.AgentMetadataReport
	got  chan codersdk.AgentMetadataReport
	fail int // fail this many reports first
	// queued is next's, read by the test goroutine only.
	queued map[string][]codersdk.WorkspaceAgentMetadataResult
}

func newMetadataRecorder() *metadataRecorder {
	return &metadataRecorder{got: make(chan codersdk.AgentMetadataReport, 1000), queued: map[string][]codersdk.WorkspaceAgentMetadataResult{}}
}

func (r *metadataRecorder) report(_ context.Context, batch []codersdk.AgentMetadataReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return context.DeadlineExceeded
	}
	for _, b := range batch {
		r.all = append(r.all, b)
		select {
		case r.got <- b:
		default: // a test that stopped reading; r.all keeps it
		}
	}
	return nil
}

// next waits for the next accepted result of key; other keys' results
// stay queued for their own next calls.
func (r *metadataRecorder) next(ctx context.Context, t *testing.T, key string) codersdk.WorkspaceAgentMetadataResult {
	t.Helper()
	for {
		if q := r.queued[key]; len(q) > 0 {
			r.queued[key] = q[1:]
			return q[0]
		}
		select {
		case b := <-r.got:
			r.queued[b.Key] = append(r.queued[b.Key], b.WorkspaceAgentMetadataResult)
		case <-ctx.Done():
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("no further result of %q; got %+v", key, r.all)
			return codersdk.WorkspaceAgentMetadataResult{}
		}
	}
}

func runMetadata(t *testing.T, opts agentMetadataOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		newAgentMetadata(opts).run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// shellRunner runs scripts for real, with /bin/sh in dir.
func shellRunner(dir string) metadataRunner {
	return func(ctx context.Context, script string) codersdk.WorkspaceAgentMetadataResult {
		return runMetadataScript(ctx, "/bin/sh", dir, append(os.Environ(), "METADATA_TEST=from-env"), script)
	}
}

// Real scripts: the trimmed output of a good one (with the environment it
// was given), the exit status and standard error of a failing one, and
// "timed out" for one that outlives its timeout.
func TestMetadataScripts(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	rep := newMetadataRecorder()
	runMetadata(t, agentMetadataOptions{
		Items: []codersdk.ProvisionerAgentMetadata{
			{Key: "echo", Script: `echo "  hello $METADATA_TEST  "`, Interval: 0},
			{Key: "fail", Script: "echo partial; echo boom >&2; exit 3", Interval: 0},
			{Key: "slow", Script: "sleep 30; echo never", Interval: 0, Timeout: 1},
			{Key: "big", Script: "head -c 10000 /dev/zero | tr '\\0' x", Interval: 0},
		},
		Run: shellRunner(t.TempDir()), Report: rep.report, Logger: testutil.Logger(t), BatchWindow: -1,
		RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
	})
	echo := rep.next(ctx, t, "echo")
	require.Equal(t, "hello from-env", echo.Value)
	require.Empty(t, echo.Error)
	require.False(t, echo.CollectedAt.IsZero())

	fail := rep.next(ctx, t, "fail")
	require.Equal(t, "partial", fail.Value)
	require.Equal(t, "exit status 3: boom", fail.Error)

	slow := rep.next(ctx, t, "slow")
	require.Equal(t, "timed out", slow.Error)
	require.Empty(t, slow.Value)

	big := rep.next(ctx, t, "big")
	require.LessOrEqual(t, len(big.Value), codersdk.MaxAgentMetadataValueBytes, "output is capped")
	require.Greater(t, len(big.Value), codersdk.MaxAgentMetadataValueBytes-64, "as much as fits is kept")
	kept := strings.TrimRight(big.Value[:strings.Index(big.Value, "…")], "x")
	require.Empty(t, kept, "the kept text is the script's own")
	require.Regexp(t, `x… \[(\d+) more bytes not shown\]$`, big.Value, "a truncated value says so")
	n := strings.Count(big.Value, "x")
	require.Contains(t, big.Value, fmt.Sprintf("[%d more bytes not shown]", 10000-n), "and counts exactly what was dropped")
	require.Empty(t, big.Error)
}

// A script slower than its interval never runs twice at once (the script
// itself detects an overlap with a lock directory), and it does not hold
// up another key: the fast key reports again and again meanwhile.
func TestMetadataNoOverlapSlowDoesNotBlock(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	rep := newMetadataRecorder()
	runMetadata(t, agentMetadataOptions{
		Items: []codersdk.ProvisionerAgentMetadata{
			// Waits for the gate file, so it outlives many intervals.
			{Key: "slow", Script: `mkdir lock || { echo overlap; exit 1; }; while [ ! -e gate ]; do sleep 0.01; done; rmdir lock; echo done-$(date +%s%N)`, Interval: 1,
				// A minute (the unit is 10 ms): it must not time out while a loaded
				// machine takes its time over the fast key's three runs.
				Timeout: 6000},
			{Key: "fast", Script: `date +%s%N`, Interval: 1},
		},
		Unit: 10 * time.Millisecond, Refresh: time.Hour,
		Run: shellRunner(dir), Report: rep.report, Logger: testutil.Logger(t), BatchWindow: -1,
		RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
	})
	// Three distinct fast results while slow is still blocked.
	seen := map[string]bool{}
	for len(seen) < 3 {
		seen[rep.next(ctx, t, "fast").Value] = true
	}
	rep.mu.Lock()
	for _, r := range rep.all {
		require.NotEqual(t, "slow", r.Key, "slow reported before its gate opened")
	}
	rep.mu.Unlock()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	for range 3 {
		res := rep.next(ctx, t, "slow")
		require.True(t, strings.HasPrefix(res.Value, "done-"), "runs of one key overlapped: %+v", res)
		require.Empty(t, res.Error)
	}
}

// An unchanged result is not reported again (until Refresh); a changed
// one is; a result coderd failed to take is retried.
func TestMetadataReportsChanges(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	var mu sync.Mutex
	values := []string{"a", "a", "a", "b"}
	runs := 0
	ranOut := make(chan struct{})
	rep := newMetadataRecorder()
	rep.fail = 1
	runMetadata(t, agentMetadataOptions{
		Items: []codersdk.ProvisionerAgentMetadata{{Key: "k", Script: "x", Interval: 1}},
		Unit:  time.Millisecond, Refresh: time.Hour,
		Run: func(context.Context, string) codersdk.WorkspaceAgentMetadataResult {
			mu.Lock()
			defer mu.Unlock()
			v := values[min(runs, len(values)-1)]
			runs++
			if runs == len(values)+5 {
				close(ranOut)
			}
			return codersdk.WorkspaceAgentMetadataResult{Value: v}
		},
		Report: rep.report, Logger: testutil.Logger(t), BatchWindow: -1, RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond,
	})
	require.Equal(t, "a", rep.next(ctx, t, "k").Value)
	require.Equal(t, "b", rep.next(ctx, t, "k").Value)
	select {
	case <-ranOut:
	case <-ctx.Done():
		t.Fatal("the script stopped running")
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	var got []string
	for _, r := range rep.all {
		got = append(got, r.Value)
	}
	// "a" may be reported twice at most if a retry raced a new run; never
	// more, and "b" once.
	require.Equal(t, 1, strings.Count(strings.Join(got, ""), "b"), "reports: %v", got)
	require.LessOrEqual(t, strings.Count(strings.Join(got, ""), "a"), 2, "reports: %v", got)
}
