package agent

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/logbatch/logbatchtest"
	"github.com/opencoder/coder/testutil"
)

var errUnreachable = errors.New("dial tcp: connection refused")

// outputs returns the text of lines.
func outputs(lines []codersdk.AgentLog) []string {
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		out = append(out, l.Output)
	}
	return out
}

func scriptLine(i int) codersdk.AgentLog {
	return codersdk.AgentLog{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelInfo, Output: strconv.Itoa(i), Source: "Startup Script"}
}

// While coderd is unreachable the queue holds at most its bound (it used to
// re-queue failed batches without limit); when coderd is back, the newest
// lines arrive behind one marker counting the lines that gave way.
func TestScriptLogsBoundedWhileCoderdDown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const maxPending, total = 2 * scriptLogBatch, 1000
		var coderd logbatchtest.Sink[codersdk.AgentLog]
		coderd.SetDown(errUnreachable)
		logs := newScriptLogs(coderd.Send, testutil.Logger(t), maxPending)
		for i := range total {
			logs.add(scriptLine(i))
			if i%50 == 0 {
				time.Sleep(time.Second) // sends are attempted, and fail
			}
			synctest.Wait()
			require.LessOrEqual(t, logs.b.Pending(), maxPending)
		}
		coderd.SetDown(nil)
		require.NoError(t, logs.close(context.Background()))

		want := []string{"[800 log lines dropped: coderd was unreachable and the agent's buffer was full]"}
		for i := total - maxPending; i < total; i++ {
			want = append(want, strconv.Itoa(i))
		}
		require.Equal(t, want, outputs(coderd.Lines()))
	})
}

// close gives up when its context ends, even while a send to a coderd that
// does not answer is in flight, and says why.
func TestScriptLogsCloseHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hung := func(ctx context.Context, _ []codersdk.AgentLog) error {
			<-ctx.Done() // coderd never answers
			return ctx.Err()
		}
		logs := newScriptLogs(hung, testutil.Logger(t), scriptLogPending)
		logs.add(scriptLine(0))
		time.Sleep(scriptLogInterval) // the send is now in flight
		synctest.Wait()

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		err := logs.close(ctx)
		require.ErrorIs(t, err, context.Canceled)
		// In the bubble time only moves when every goroutine waits: close
		// returned without waiting for the send's timeout.
		require.Equal(t, start, time.Now())
	})
}

// Once coderd says the agent's log budget is spent (413), nothing more is
// sent, and close does not report it as a failure: it was logged.
func TestScriptLogsStopAtLogLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var coderd logbatchtest.Sink[codersdk.AgentLog]
		coderd.SetDown(status(http.StatusRequestEntityTooLarge))
		var logs testutil.LockedBuffer
		q := newScriptLogs(coderd.Send, testutil.TeeLogger(t, &logs), scriptLogPending)
		q.add(scriptLine(0))
		time.Sleep(scriptLogInterval)
		synctest.Wait()
		coderd.SetDown(nil)
		q.add(scriptLine(1))
		require.NoError(t, q.close(context.Background()))
		require.Empty(t, coderd.Lines())
		require.Contains(t, logs.String(), "startup log limit reached")
	})
}
