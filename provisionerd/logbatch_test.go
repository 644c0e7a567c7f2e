package provisionerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/logbatch/logbatchtest"
)

// These tests run in a synctest bubble: time is fake and advances only when
// every goroutine is blocked, so "after exactly the flush interval" is a
// deterministic statement, not a timing assertion.

// recorder is a batcher's Send: it records batches and fails on demand.
type recorder struct {
	mu      sync.Mutex
	batches [][]codersdk.ProvisionerLog
	at      []time.Time
	fail    []error // errors to return, in order, before succeeding
}

func (r *recorder) send(_ context.Context, logs []codersdk.ProvisionerLog) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fail) > 0 {
		err := r.fail[0]
		r.fail = r.fail[1:]
		return err
	}
	r.batches = append(r.batches, append([]codersdk.ProvisionerLog(nil), logs...))
	r.at = append(r.at, time.Now())
	return nil
}

func (r *recorder) snapshot() ([][]codersdk.ProvisionerLog, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]codersdk.ProvisionerLog(nil), r.batches...), append([]time.Time(nil), r.at...)
}

// lines returns every sent line's output, in order.
func (r *recorder) lines() []string {
	batches, _ := r.snapshot()
	var out []string
	for _, b := range batches {
		for _, l := range b {
			out = append(out, l.Output)
		}
	}
	return out
}

func line(i int) codersdk.ProvisionerLog {
	return codersdk.ProvisionerLog{Level: codersdk.ProvisionerLogLevelInfo, Stage: "Planning", Output: fmt.Sprintf("line %d", i)}
}

func outputs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

// apiError is an answer from coderd with the given status.
func apiError(status int) error {
	return codersdk.ReadBodyAsError(&http.Response{
		StatusCode: status,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"message":"test"}`)),
	})
}

// startBatcher runs a batcher in the bubble and stops it at the end.
func startBatcher(t *testing.T, rec *recorder, opts batcherOptions) *logBatcher {
	t.Helper()
	opts.Send = rec.send
	if opts.Interval == 0 {
		opts.Interval = time.Hour
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 24 * time.Hour
	}
	return logbatchtest.Run(t, newLogBatcher(opts))
}

func TestLogBatcherFlushesOnInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		start := time.Now()
		b := startBatcher(t, rec, batcherOptions{Interval: 250 * time.Millisecond})
		b.Add(line(0))
		b.Add(line(1))
		synctest.Wait()
		require.Empty(t, rec.lines(), "nothing is sent before the interval")

		time.Sleep(250 * time.Millisecond)
		synctest.Wait()
		batches, at := rec.snapshot()
		require.Len(t, batches, 1)
		require.Equal(t, outputs(0, 2), rec.lines())
		require.Equal(t, 250*time.Millisecond, at[0].Sub(start))

		// An empty queue sends nothing on later ticks.
		time.Sleep(time.Second)
		synctest.Wait()
		batches, _ = rec.snapshot()
		require.Len(t, batches, 1)
	})
}

func TestLogBatcherFlushesEarlyOnSize(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		start := time.Now()
		b := startBatcher(t, rec, batcherOptions{MaxBatch: 100})
		for i := range 250 {
			b.Add(line(i))
		}
		synctest.Wait()
		batches, at := rec.snapshot()
		require.Len(t, batches, 2, "two full batches go at once; the rest waits for the interval")
		for i, batch := range batches {
			require.Len(t, batch, 100)
			require.Equal(t, start, at[i], "sent without waiting")
		}
		require.Equal(t, outputs(0, 200), rec.lines())
	})
}

func TestLogBatcherFinalFlush(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := startBatcher(t, rec, batcherOptions{MaxBatch: 100})
		for i := range 250 {
			b.Add(line(i))
		}
		require.NoError(t, b.Flush(context.Background()))
		// Flush returns only after everything was sent, in order, in
		// batches no larger than MaxBatch.
		require.Equal(t, outputs(0, 250), rec.lines())
		batches, _ := rec.snapshot()
		for _, batch := range batches {
			require.LessOrEqual(t, len(batch), 100)
		}
	})
}

func TestLogBatcherKeepsOrderAcrossConcurrentAdds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		b := startBatcher(t, rec, batcherOptions{Interval: 10 * time.Millisecond, MaxBatch: 7})
		// One writer at a time (the runner's contract), with sends
		// interleaved by time passing.
		for i := range 500 {
			b.Add(line(i))
			if i%13 == 0 {
				time.Sleep(3 * time.Millisecond)
			}
		}
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, outputs(0, 500), rec.lines())
	})
}

func TestLogBatcherHeartbeat(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		start := time.Now()
		b := startBatcher(t, rec, batcherOptions{Interval: 250 * time.Millisecond, Heartbeat: 5 * time.Second})

		time.Sleep(11 * time.Second)
		synctest.Wait()
		batches, at := rec.snapshot()
		require.Len(t, batches, 2, "an empty update every heartbeat interval")
		require.Empty(t, batches[0])
		require.Equal(t, 5*time.Second, at[0].Sub(start))
		require.Equal(t, 10*time.Second, at[1].Sub(start))

		// A log batch counts as a heartbeat: the next empty one comes a
		// full interval after it.
		b.Add(line(0)) // at 11s, sent at 11.25s
		time.Sleep(5 * time.Second)
		synctest.Wait()
		batches, at = rec.snapshot()
		require.Len(t, batches, 3)
		require.Equal(t, 11250*time.Millisecond, at[2].Sub(start))
		time.Sleep(time.Second)
		synctest.Wait()
		batches, at = rec.snapshot()
		require.Len(t, batches, 4)
		require.Empty(t, batches[3])
		require.Equal(t, 16250*time.Millisecond, at[3].Sub(start))
	})
}

func TestLogBatcherRetriesInOrder(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("dial tcp: connection refused")
		rec := &recorder{fail: []error{down, down, apiError(http.StatusBadGateway)}}
		b := startBatcher(t, rec, batcherOptions{Interval: 250 * time.Millisecond, MaxBatch: 3})
		for i := range 10 {
			b.Add(line(i))
		}
		time.Sleep(time.Minute) // long enough for every retry
		synctest.Wait()
		require.Equal(t, outputs(0, 10), rec.lines(), "failed batches are resent first, nothing is lost")
	})
}

func TestLogBatcherFlushRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("connection reset by peer")
		rec := &recorder{fail: []error{down, down, down}}
		b := startBatcher(t, rec, batcherOptions{})
		b.Add(line(0))
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, outputs(0, 1), rec.lines())

		// A flush whose deadline passes while coderd is down says so.
		rec.mu.Lock()
		rec.fail = []error{down, down, down, down, down, down, down, down, down, down}
		rec.mu.Unlock()
		b.Add(line(1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := b.Flush(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "connection reset")
	})
}

func TestLogBatcherRejectedBatchIsDropped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{fail: []error{apiError(http.StatusBadRequest)}}
		b := startBatcher(t, rec, batcherOptions{MaxBatch: 2})
		for i := range 4 {
			b.Add(line(i))
		}
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, outputs(2, 4), rec.lines(), "a batch coderd refuses is not retried forever")
	})
}

func TestLogBatcherStopsWhenJobLost(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{fail: []error{apiError(http.StatusConflict)}}
		b := startBatcher(t, rec, batcherOptions{})
		b.Add(line(0))
		err := b.Flush(context.Background())
		require.Equal(t, callLost, classify(err))
		require.Equal(t, callLost, classify(b.Err()))
		b.Add(line(1))
		require.Error(t, b.Flush(context.Background()))
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Empty(t, rec.lines(), "nothing more is sent for a lost job")
	})
}

func TestLogBatcherCapsBufferWhileDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("no route to host")
		rec := &recorder{fail: []error{down}}
		b := startBatcher(t, rec, batcherOptions{Interval: time.Second, MaxBatch: 5, MaxPending: 10})
		b.Add(line(0))
		time.Sleep(time.Second) // the first send fails: coderd is "down"
		synctest.Wait()
		for i := 1; i < 15; i++ {
			b.Add(line(i))
		}
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, outputs(0, 10), rec.lines())
		// The first line after the gap is preceded by a marker.
		b.Add(line(15))
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, append(outputs(0, 10), "[5 log lines dropped: coderd was unreachable and the daemon's buffer was full]", "line 15"), rec.lines())
	})
}
