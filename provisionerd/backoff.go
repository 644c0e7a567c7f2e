package provisionerd

import (
	"context"
	"math/rand/v2"
	"time"
)

// Default reconnect delays: the first retry comes quickly (a coderd restart
// behind a load balancer is often over in well under a second), the cap
// keeps a fleet of daemons from hammering a coderd that is coming back.
const (
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
)

// backoff yields exponentially growing, jittered delays between retries of
// one caller. It is not safe for concurrent use: each retry loop owns one.
//
// The n-th delay is drawn uniformly from [d/2, d] with d = min(max,
// min*2^n) ("equal jitter"): the spread keeps daemons that lost coderd at
// the same moment from returning in lockstep, and the lower bound keeps the
// growth that protects a struggling server.
type backoff struct {
	min, max time.Duration
	rand     *rand.Rand

	cur time.Duration // the next un-jittered delay; 0 means min
}

// newBackoff returns a backoff between minDelay and maxDelay (the defaults
// when zero). seed makes the jitter reproducible in tests; production uses
// a random one.
func newBackoff(minDelay, maxDelay time.Duration, seed uint64) *backoff {
	if minDelay <= 0 {
		minDelay = DefaultBackoffMin
	}
	if maxDelay < minDelay {
		maxDelay = max(DefaultBackoffMax, minDelay)
	}
	return &backoff{min: minDelay, max: maxDelay, rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next returns the delay before the next retry and grows the following one.
func (b *backoff) Next() time.Duration {
	d := b.cur
	if d < b.min {
		d = b.min
	}
	if d >= b.max/2 {
		b.cur = b.max
	} else {
		b.cur = d * 2
	}
	half := d / 2
	return half + time.Duration(b.rand.Int64N(int64(d-half)+1))
}

// Reset starts over from the minimum delay, after a success.
func (b *backoff) Reset() { b.cur = 0 }

// Wait sleeps for Next(), or until ctx ends; it reports whether the full
// delay passed.
func (b *backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
