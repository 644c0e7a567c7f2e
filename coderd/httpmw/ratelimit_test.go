package httpmw_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/httpmw"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestRateLimiterAllow(t *testing.T) {
	t.Parallel()
	// step is one call to Allow after advancing the clock.
	type step struct {
		advance  time.Duration
		key      string
		wantOK   bool
		wantWait time.Duration // only checked when !wantOK
	}
	cases := []struct {
		name     string
		burst    int
		interval time.Duration
		steps    []step
	}{
		{"burst then refused", 3, time.Minute, []step{
			{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", true, 0},
			{0, "a", false, time.Minute},
		}},
		{"refill one per interval", 2, time.Second, []step{
			{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", false, time.Second},
			{time.Second, "a", true, 0}, {0, "a", false, time.Second},
		}},
		{"partial refill reports the rest of the wait", 1, 10 * time.Second, []step{
			{0, "a", true, 0}, {4 * time.Second, "a", false, 6 * time.Second},
			{7 * time.Second, "a", true, 0},
		}},
		{"refill caps at burst", 2, time.Second, []step{
			{0, "a", true, 0}, {0, "a", true, 0},
			{time.Hour, "a", true, 0}, {0, "a", true, 0}, {0, "a", false, time.Second},
		}},
		{"keys are independent", 1, time.Hour, []step{
			{0, "a", true, 0}, {0, "a", false, time.Hour},
			{0, "b", true, 0}, {0, "b", false, time.Hour},
		}},
		{"refused calls do not extend the wait", 1, 10 * time.Second, []step{
			{0, "a", true, 0},
			{0, "a", false, 10 * time.Second}, {0, "a", false, 10 * time.Second},
			{5 * time.Second, "a", false, 5 * time.Second},
			{5 * time.Second, "a", true, 0},
		}},
		{"idle entries swept and start full", 2, time.Millisecond, []step{
			{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", false, time.Millisecond},
			// Far past the sweep horizon: "a" is dropped and comes back full.
			{time.Hour, "b", true, 0},
			{0, "a", true, 0}, {0, "a", true, 0}, {0, "a", false, time.Millisecond},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := newClock()
			l := httpmw.NewRateLimiter(c.burst, c.interval, clock.now)
			for i, s := range c.steps {
				clock.advance(s.advance)
				ok, wait := l.Allow(s.key)
				require.Equal(t, s.wantOK, ok, "step %d", i)
				if s.wantOK {
					require.Zero(t, wait, "step %d", i)
				} else {
					require.InDelta(t, float64(s.wantWait), float64(wait), float64(time.Microsecond), "step %d: wait", i)
				}
			}
		})
	}
}

func TestRateLimiterMiddleware(t *testing.T) {
	t.Parallel()
	clock := newClock()
	l := httpmw.NewRateLimiter(2, 30*time.Second, clock.now)
	h := l.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	do := func(remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/api/v2/users/login", nil)
		r.RemoteAddr = remote
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	cases := []struct {
		name       string
		advance    time.Duration
		remote     string
		want       int
		retryAfter int // seconds; checked on 429
	}{
		{"first", 0, "192.0.2.1:1000", 204, 0},
		{"second from another port of the same IP", 0, "192.0.2.1:2000", 204, 0},
		{"third refused", 0, "192.0.2.1:3000", 429, 31},
		{"other IP unaffected", 0, "192.0.2.2:1000", 204, 0},
		{"IPv4-mapped IPv6 is the same client", 0, "[::ffff:192.0.2.1]:4000", 429, 31},
		{"still refused part-way", 20 * time.Second, "192.0.2.1:1000", 429, 11},
		{"waiting Retry-After is enough", 11 * time.Second, "192.0.2.1:1000", 204, 0},
		{"unparseable address shares one bucket", 0, "garbage", 204, 0},
	}
	for _, c := range cases {
		clock.advance(c.advance)
		w := do(c.remote)
		require.Equal(t, c.want, w.Code, c.name)
		if c.want == http.StatusTooManyRequests {
			require.Equal(t, strconv.Itoa(c.retryAfter), w.Header().Get("Retry-After"), c.name)
			require.Contains(t, w.Header().Get("Content-Type"), "application/json", c.name)
			require.Contains(t, w.Body.String(), `"message":"Too many requests."`, c.name)
		}
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	t.Parallel()
	// With a frozen clock, exactly burst calls succeed however they race.
	clock := newClock()
	const burst = 50
	l := httpmw.NewRateLimiter(burst, time.Hour, clock.now)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		allowed int
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if ok, _ := l.Allow("k"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, burst, allowed)
}
