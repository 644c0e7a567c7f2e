package agent

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// While coderd is down, a cron script failing again and again holds one
// pending result per script, not one per run; once coderd is back, the
// latest run of each script arrives, and flush returns when all are sent.
func TestScriptResultsKeepLatestWhileCoderdDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var (
			mu   sync.Mutex
			down = true
			got  []codersdk.PostAgentScriptCompletedRequest
		)
		r := newScriptResults(testutil.Logger(t), func(_ context.Context, req codersdk.PostAgentScriptCompletedRequest) error {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return errUnreachable
			}
			got = append(got, req)
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.run(ctx) }()

		start := time.Now()
		for run := range 500 {
			for _, i := range []int{0, 3} {
				r.record(codersdk.PostAgentScriptCompletedRequest{ScriptIndex: i, Stage: codersdk.AgentScriptStageCron, Status: codersdk.AgentScriptStatusExitFailure,
					ExitCode: int32(run), StartedAt: start.Add(time.Duration(run) * time.Minute), EndedAt: start.Add(time.Duration(run) * time.Minute)})
			}
			time.Sleep(time.Minute) // sends are attempted, and fail
			synctest.Wait()
			require.LessOrEqual(t, r.len(), 2)
		}
		mu.Lock()
		down = false
		mu.Unlock()
		fctx, fcancel := context.WithTimeout(context.Background(), time.Minute)
		defer fcancel()
		require.NoError(t, r.flush(fctx))
		cancel()
		<-done

		require.Len(t, got, 2, "one result per script: %v", got)
		for _, g := range got {
			require.Equal(t, int32(499), g.ExitCode, "script %d: the latest run", g.ScriptIndex)
		}
		require.ElementsMatch(t, []int{0, 3}, []int{got[0].ScriptIndex, got[1].ScriptIndex})
	})
}

// A result coderd refuses (4xx) is dropped, not retried forever, and flush
// does not wait for it.
func TestScriptResultsRefusedAreDropped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls int
		r := newScriptResults(testutil.Logger(t), func(context.Context, codersdk.PostAgentScriptCompletedRequest) error {
			calls++
			return status(400)
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); r.run(ctx) }()
		r.record(codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 7})
		require.NoError(t, r.flush(ctx))
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Equal(t, 1, calls)
		cancel()
		<-done
	})
}
