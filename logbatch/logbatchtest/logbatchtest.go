// Package logbatchtest helps test code that streams logs through package
// logbatch: a receiving end that is down until the test says otherwise and
// records what it received, and a helper that runs a Batcher for the
// length of a test. Tests import it; product code never does.
package logbatchtest

import (
	"context"
	"sync"
	"testing"

	"github.com/opencoder/coder/logbatch"
)

// Sink is a Batcher's Send standing for the server: while down it fails
// every batch with the given error, otherwise it records the batch. The
// zero value is up.
type Sink[T any] struct {
	mu      sync.Mutex
	down    error
	batches [][]T
}

// Send is the Batcher's Options.Send.
func (s *Sink[T]) Send(_ context.Context, lines []T) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down != nil {
		return s.down
	}
	s.batches = append(s.batches, append([]T(nil), lines...))
	return nil
}

// SetDown makes every Send fail with err from now on; nil brings the
// server back.
func (s *Sink[T]) SetDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
}

// Batches returns the batches received, in order.
func (s *Sink[T]) Batches() [][]T {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]T(nil), s.batches...)
}

// Lines returns every line received, in order.
func (s *Sink[T]) Lines() []T {
	var out []T
	for _, b := range s.Batches() {
		out = append(out, b...)
	}
	return out
}

// Run runs b until the test ends: it starts b.Run and, at cleanup, stops
// it and ends its context.
func Run[T any](t testing.TB, b *logbatch.Batcher[T]) *logbatch.Batcher[T] {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	go b.Run(ctx)
	t.Cleanup(func() {
		b.Stop()
		cancel()
	})
	return b
}
