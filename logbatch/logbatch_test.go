package logbatch_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/opencoder/coder/logbatch"
	"github.com/opencoder/coder/logbatch/logbatchtest"
)

// The tests run in synctest bubbles: time is fake and advances only when
// every goroutine is blocked. The behaviour shared with the provisioner
// daemon (intervals, heartbeats, order, retries) is tested through its
// adapter in provisionerd/logbatch_test.go; these cover the policies the
// daemon does not use.

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errDown = errors.New("connect: connection refused")

// down is a receiving end that is unreachable until SetDown(nil).
func down() *logbatchtest.Sink[string] {
	var s logbatchtest.Sink[string]
	s.SetDown(errDown)
	return &s
}

// runDropOldest runs a DropOldest batcher with marker lines on send.
func runDropOldest(t *testing.T, send func(context.Context, []string) error, interval time.Duration, maxBatch, maxPending int) *logbatch.Batcher[string] {
	return logbatchtest.Run(t, logbatch.New(logbatch.Options[string]{
		Send: send, Marker: marker, Overflow: logbatch.DropOldest,
		Interval: interval, MaxBatch: maxBatch, MaxPending: maxPending,
	}))
}

func marker(n int, _ string) string { return fmt.Sprintf("[%d dropped]", n) }

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(i))
	}
	return out
}

// While the server is down, DropOldest keeps the newest MaxPending lines
// and sends one marker counting every line it discarded, in front of the
// first line it kept, once the server is back.
func TestDropOldestKeepsNewestAndCountsGap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := down()
		b := runDropOldest(t, srv.Send, time.Second, 4, 10)
		for i := range 25 {
			b.Add(strconv.Itoa(i))
			if i%5 == 0 {
				time.Sleep(time.Second) // sends are attempted, and fail
			}
			synctest.Wait()
			require.LessOrEqual(t, b.Pending(), 10, "the queue is bounded while the server is down")
		}
		srv.SetDown(nil)
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, append([]string{"[15 dropped]"}, numbered(15, 25)...), srv.Lines())
		require.Zero(t, b.Pending())

		// Once delivered, the gap is closed: later lines carry no marker.
		b.Add("25")
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, append(append([]string{"[15 dropped]"}, numbered(15, 25)...), "25"), srv.Lines())
	})
}

// A batch that fails while newer lines fill the queue goes back to the
// front and is then the oldest, so it is the first to go.
func TestDropOldestTrimsRetriedBatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := down()
		block := make(chan struct{})
		var once sync.Once
		send := func(ctx context.Context, lines []string) error {
			once.Do(func() { <-block }) // the first batch is in flight...
			return srv.Send(ctx, lines)
		}
		b := runDropOldest(t, send, time.Hour, 3, 5)
		for i := range 3 {
			b.Add(strconv.Itoa(i)) // a full batch: sent at once
		}
		synctest.Wait()
		for i := 3; i < 8; i++ {
			b.Add(strconv.Itoa(i)) // ...while the queue fills
		}
		close(block) // ...and fails
		synctest.Wait()
		require.Equal(t, 5, b.Pending())
		srv.SetDown(nil)
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, append([]string{"[3 dropped]"}, numbered(3, 8)...), srv.Lines())
	})
}

// Markers count toward MaxBatch, so no request is larger than promised.
func TestMarkerCountsTowardBatchSize(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := down()
		b := runDropOldest(t, srv.Send, time.Hour, 2, 3)
		for _, l := range numbered(0, 6) {
			b.Add(l)
		}
		srv.SetDown(nil)
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, [][]string{{"[3 dropped]", "3"}, {"4", "5"}}, srv.Batches())
	})
}

// Flush gives up when its context ends while the server is down, and says
// why; the lines stay queued for a later Flush.
func TestFlushHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := down()
		b := logbatchtest.Run(t, logbatch.New(logbatch.Options[string]{Send: srv.Send, Interval: time.Hour}))
		b.Add("0")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := b.Flush(ctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorIs(t, err, errDown)
		require.Equal(t, 1, b.Pending())

		srv.SetDown(nil)
		require.NoError(t, b.Flush(context.Background()))
		require.Equal(t, []string{"0"}, srv.Lines())
	})
}

// A Send the server answers with a Stop outcome ends the stream; a Drop
// outcome loses only its batch. Without a heartbeat nothing is sent while
// the queue is empty.
func TestClassifyStopAndDrop(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errFull, errBad := errors.New("budget spent"), errors.New("bad batch")
		var (
			mu    sync.Mutex
			calls [][]string
			errs  = []error{errBad, nil, errFull}
		)
		send := func(_ context.Context, lines []string) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, lines)
			err := errs[0]
			errs = errs[1:]
			return err
		}
		classify := func(err error) logbatch.Outcome {
			if errors.Is(err, errFull) {
				return logbatch.Stop
			}
			return logbatch.Drop
		}
		b := logbatchtest.Run(t, logbatch.New(logbatch.Options[string]{Send: send, Classify: classify, Interval: time.Second, MaxBatch: 1}))
		b.Add("a")
		b.Add("b")
		b.Add("c")
		require.ErrorIs(t, b.Flush(context.Background()), errFull)
		require.ErrorIs(t, b.Err(), errFull)
		b.Add("d")
		time.Sleep(time.Hour)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, [][]string{{"a"}, {"b"}, {"c"}}, calls, "nothing is sent after a Stop, nor without lines")
	})
}
