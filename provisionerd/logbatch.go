package provisionerd

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/logbatch"
)

// logBatcher streams one job's log lines to coderd in order, in batches,
// and doubles as the job's heartbeat (see package logbatch).
type logBatcher = logbatch.Batcher[codersdk.ProvisionerLog]

// batcherOptions configure a job's logBatcher. Zero durations and sizes
// get the daemon's defaults.
type batcherOptions struct {
	// Send delivers one batch (possibly empty: a heartbeat) to coderd. Its
	// error is classified with classify: retried, dropped, or fatal.
	Send func(ctx context.Context, logs []codersdk.ProvisionerLog) error
	// Interval is the longest a line waits before it is sent.
	Interval time.Duration
	// Heartbeat is the longest coderd goes without an update: when no
	// batch was sent for this long, an empty one is.
	Heartbeat time.Duration
	// MaxBatch lines trigger an early flush, and no request carries more.
	MaxBatch int
	// MaxPending caps the lines held while coderd is unreachable; lines
	// beyond it are refused, counted and replaced by one marker line (the
	// start of a build's log, with its first error, is what matters).
	MaxPending int
	// BackoffMin and BackoffMax space the retries of a failed Send.
	BackoffMin, BackoffMax time.Duration
	Logger                 *slog.Logger
}

// newLogBatcher returns a job's batcher, with the daemon's defaults and
// its classification of coderd's answers.
func newLogBatcher(opts batcherOptions) *logBatcher {
	if opts.Interval <= 0 {
		opts.Interval = DefaultLogFlushInterval
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeatInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultLogBatchSize
	}
	if opts.Logger == nil {
		opts.Logger = discardLogger()
	}
	return logbatch.New(logbatch.Options[codersdk.ProvisionerLog]{
		Send:           opts.Send,
		Classify:       classifyLogs,
		Marker:         droppedMarker,
		Stamp:          stampLog,
		Interval:       opts.Interval,
		Heartbeat:      opts.Heartbeat,
		MaxBatch:       opts.MaxBatch,
		MaxPending:     opts.MaxPending,
		Overflow:       logbatch.DropNewest,
		RequestTimeout: defaultRequestTimeout,
		BackoffMin:     opts.BackoffMin,
		BackoffMax:     opts.BackoffMax,
		Logger:         opts.Logger,
	})
}

// classifyLogs maps a failed UpdateJob to what the batcher does with it: a
// lost job stops the stream, a rejected batch is dropped.
func classifyLogs(err error) logbatch.Outcome {
	switch classify(err) {
	case callLost:
		return logbatch.Stop
	case callRejected:
		return logbatch.Drop
	default:
		return logbatch.Retry
	}
}

// droppedMarker is the line that stands for the lines refused while the
// buffer was full.
func droppedMarker(n int, next codersdk.ProvisionerLog) codersdk.ProvisionerLog {
	return codersdk.ProvisionerLog{
		CreatedAt: next.CreatedAt,
		Level:     codersdk.ProvisionerLogLevelWarn,
		Stage:     next.Stage,
		Output:    fmt.Sprintf("[%d log lines dropped: coderd was unreachable and the daemon's buffer was full]", n),
	}
}

// stampLog dates a line the runner left undated.
func stampLog(l codersdk.ProvisionerLog) codersdk.ProvisionerLog {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = time.Now()
	}
	return l
}
