package servertailnet

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// fakeTunnels records what the cache asks of the coordination.
type fakeTunnels struct {
	mu     sync.Mutex
	events []string
}

func (f *fakeTunnels) AddTunnel(id uuid.UUID)    { f.record("add " + id.String()) }
func (f *fakeTunnels) RemoveTunnel(id uuid.UUID) { f.record("remove " + id.String()) }
func (f *fakeTunnels) record(e string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

func (f *fakeTunnels) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.events)
	f.events = nil
	return out
}

// The cache's clock is synctest's: time only moves when every goroutine
// of the bubble is blocked, so expiry is exact and no test sleeps for real.
func TestAgentCacheIdleExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const idle = 5 * time.Minute
		tun := &fakeTunnels{}
		c := newAgentCache(tun, idle)
		defer c.close()
		a := uuid.New()

		rel1, err := c.acquire(a)
		require.NoError(t, err)
		rel2, err := c.acquire(a)
		require.NoError(t, err)
		require.Equal(t, []string{"add " + a.String()}, tun.take(), "one tunnel for two users")

		rel1()
		rel1() // idempotent
		time.Sleep(2 * idle)
		synctest.Wait()
		require.Empty(t, tun.take(), "a reference is still held")

		rel2()
		time.Sleep(idle - time.Second)
		synctest.Wait()
		require.Empty(t, tun.take(), "not idle long enough")
		require.Equal(t, 1, c.len())

		// Used again before expiry: the timer restarts from the next release.
		rel3, err := c.acquire(a)
		require.NoError(t, err)
		time.Sleep(2 * time.Second)
		rel3()
		time.Sleep(idle - time.Second)
		synctest.Wait()
		require.Empty(t, tun.take(), "expiry counts from the last release")

		time.Sleep(2 * time.Second)
		synctest.Wait()
		require.Equal(t, []string{"remove " + a.String()}, tun.take())
		require.Equal(t, 0, c.len())

		// A new use after expiry adds the tunnel again.
		rel4, err := c.acquire(a)
		require.NoError(t, err)
		require.Equal(t, []string{"add " + a.String()}, tun.take())
		rel4()
	})
}

func TestAgentCacheClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tun := &fakeTunnels{}
		c := newAgentCache(tun, time.Minute)
		a, b := uuid.New(), uuid.New()
		relA, err := c.acquire(a)
		require.NoError(t, err)
		relB, err := c.acquire(b)
		require.NoError(t, err)
		relA() // a's expiry is pending
		c.close()
		c.close()
		relB() // after close: no timer, no panic
		_, err = c.acquire(a)
		require.ErrorIs(t, err, ErrClosed)
		time.Sleep(time.Hour)
		synctest.Wait()
		require.Len(t, tun.take(), 2, "only the two adds; close leaves removal to the coordination")
	})
}
