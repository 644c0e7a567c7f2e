package httpmw

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/opencoder/coder/coderd/httpapi"
)

// RateLimiter allows each client IP `burst` requests at once, refilled at
// one every `interval`. Idle entries are swept lazily, so it needs no
// goroutine.
type RateLimiter struct {
	burst    float64
	interval time.Duration
	now      func() time.Time

	mu        sync.Mutex // guards buckets and lastSweep
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewRateLimiter returns a limiter; now may be nil (time.Now).
func NewRateLimiter(burst int, interval time.Duration, now func() time.Time) *RateLimiter {
	if now == nil {
		now = time.Now
	}
	return &RateLimiter{burst: float64(burst), interval: interval, now: now, buckets: map[string]*bucket{}}
}

// Allow takes a token for key; when none is left it returns how long to wait.
func (l *RateLimiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now()
	if t.Sub(l.lastSweep) > 10*l.interval*time.Duration(l.burst) {
		l.sweepLocked(t)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: t}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(t.Sub(b.at))/float64(l.interval))
	b.at = t
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) * float64(l.interval))
}

// sweepLocked drops full buckets; l.mu must be held.
func (l *RateLimiter) sweepLocked(t time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(t.Sub(b.at))/float64(l.interval) >= l.burst {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = t
}

// Middleware answers 429 with Retry-After when the client's IP is over the
// limit.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := "unknown"
		if ip := remoteIP(r); ip != nil {
			key = ip.String()
		}
		if ok, wait := l.Allow(key); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			httpapi.Error(w, http.StatusTooManyRequests, "Too many requests.", "Try again in "+wait.Round(time.Second).String()+".")
			return
		}
		next.ServeHTTP(w, r)
	})
}
