package testutil

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// WaitBuffer collects what another goroutine writes (a terminal's or a
// connection's output) and lets a test wait, bounded by a context, for a
// substring, a pattern or the end of the stream. The zero value is ready.
type WaitBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	eof    bool
	notify chan struct{} // receives after each change, capacity 1
}

func (b *WaitBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	b.signalLocked()
	return len(p), nil
}

// CloseWrite records that the writer reached EOF: waits for text that has
// not arrived fail at once instead of at their deadline.
func (b *WaitBuffer) CloseWrite() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.eof = true
	b.signalLocked()
}

// signalLocked wakes a waiter; b.mu must be held.
func (b *WaitBuffer) signalLocked() {
	if b.notify == nil {
		b.notify = make(chan struct{}, 1)
	}
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// String returns a copy of everything written so far.
func (b *WaitBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// state returns the text, whether the writer is done, and the channel that
// signals the next change.
func (b *WaitBuffer) state() (string, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notify == nil {
		b.notify = make(chan struct{}, 1)
	}
	return b.buf.String(), b.eof, b.notify
}

// waitUntil waits until found reports a match in the text from offset on,
// failing the test at EOF or when ctx ends.
func (b *WaitBuffer) waitUntil(ctx context.Context, t testing.TB, offset int, what string, found func(string) bool) {
	t.Helper()
	for {
		s, eof, changed := b.state()
		if found(s[offset:]) {
			return
		}
		if eof {
			t.Fatalf("EOF while waiting for %s; got %q", what, s[offset:])
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v; got %q", what, ctx.Err(), s[offset:])
		}
	}
}

// WaitFor waits until the text from offset on contains substr, and returns
// the offset just past it.
func (b *WaitBuffer) WaitFor(ctx context.Context, t testing.TB, offset int, substr string) int {
	t.Helper()
	end := 0
	b.waitUntil(ctx, t, offset, "\""+substr+"\"", func(s string) bool {
		i := strings.Index(s, substr)
		end = offset + i + len(substr)
		return i >= 0
	})
	return end
}

// WaitMatch waits until the text from offset on matches re, and returns the
// submatches.
func (b *WaitBuffer) WaitMatch(ctx context.Context, t testing.TB, offset int, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	b.waitUntil(ctx, t, offset, re.String(), func(s string) bool {
		m = re.FindStringSubmatch(s)
		return m != nil
	})
	return m
}

// WaitEOF waits until CloseWrite was called.
func (b *WaitBuffer) WaitEOF(ctx context.Context, t testing.TB) {
	t.Helper()
	for {
		s, eof, changed := b.state()
		if eof {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("waiting for EOF: %v; got %q", ctx.Err(), s)
		}
	}
}
