package backoff

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffGrowsWithinBoundsAndResets(t *testing.T) {
	t.Parallel()
	const lo, hi = 100 * time.Millisecond, 10 * time.Second
	b := NewSeeded(lo, hi, 1)
	ceiling := lo
	for i := range 20 {
		d := b.Next()
		require.GreaterOrEqual(t, d, ceiling/2, "delay %d", i)
		require.LessOrEqual(t, d, ceiling, "delay %d", i)
		ceiling = min(ceiling*2, hi)
	}
	// Capped: the last delays are in [hi/2, hi].
	require.GreaterOrEqual(t, b.Next(), hi/2)

	b.Reset()
	require.LessOrEqual(t, b.Next(), lo)
}

func TestBackoffDefaults(t *testing.T) {
	t.Parallel()
	b := NewSeeded(0, 0, 1)
	require.Equal(t, DefaultMin, b.min)
	require.Equal(t, DefaultMax, b.max)
	// A cap below the floor is raised to the default cap.
	b = NewSeeded(time.Second, time.Millisecond, 1)
	require.Equal(t, DefaultMax, b.max)
}

func TestBackoffJitterSpreads(t *testing.T) {
	t.Parallel()
	// Daemons that lost coderd together must not come back in lockstep:
	// the same step drawn with different seeds differs.
	seen := map[time.Duration]bool{}
	for seed := range uint64(20) {
		b := NewSeeded(time.Second, time.Minute, seed)
		b.Next()
		seen[b.Next()] = true
	}
	require.Greater(t, len(seen), 10)
}

func TestBackoffWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		b := NewSeeded(time.Second, 10*time.Second, 1)
		start := time.Now()
		require.True(t, b.Wait(context.Background()))
		waited := time.Since(start)
		require.GreaterOrEqual(t, waited, 500*time.Millisecond)
		require.LessOrEqual(t, waited, time.Second)

		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(100 * time.Millisecond)
			cancel()
		}()
		start = time.Now()
		require.False(t, b.Wait(ctx), "a canceled wait reports false")
		require.Equal(t, 100*time.Millisecond, time.Since(start))
	})
}
