package cli

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// This file holds `coder ssh --debug-timings` (or CODER_DEBUG_TIMINGS=1):
// one stderr line per phase of a connection with its offset from the start
// of main, so the time a user waits can be attributed (docs/benchmarks.md,
// issue 10). Go's package initialisation before main is not included;
// GODEBUG=inittrace=1 shows it.

// mainStartKey carries the time Main began in the command's context.
type mainStartKey struct{}

// withMainStart records t as the start of main.
func withMainStart(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, mainStartKey{}, t)
}

// mainStart is the time Main began, or now when the command was started
// some other way (tests call execute).
func mainStart(ctx context.Context) time.Time {
	if t, ok := ctx.Value(mainStartKey{}).(time.Time); ok {
		return t
	}
	return time.Now()
}

// timings prints phases. A nil *timings prints nothing, so callers mark
// unconditionally. Safe for concurrent use (tailnet marks from its own
// goroutines); each phase name is printed once, the first time it happens.
type timings struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
	seen  map[string]bool
}

// newTimings returns a printer when on, else nil.
func newTimings(ctx context.Context, on bool, w io.Writer) *timings {
	if !on {
		return nil
	}
	t := &timings{w: w, start: mainStart(ctx), seen: map[string]bool{}}
	t.mark("main started")
	return t
}

// mark prints phase with its offset from the start of main.
func (t *timings) mark(phase string) {
	if t == nil {
		return
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[phase] {
		return
	}
	t.seen[phase] = true
	fmt.Fprintf(t.w, "timing: %8.1f ms  %s\n", float64(now.Sub(t.start).Microseconds())/1000, phase)
}

// traceFunc is mark as a callback for tailnet and agentconn, or nil.
func (t *timings) traceFunc() func(string) {
	if t == nil {
		return nil
	}
	return t.mark
}
