// Package backoff spaces the retries of a loop that talks to something that
// may be down (coderd, PostgreSQL, a DERP server): exponentially growing,
// jittered delays with a floor and a cap. It is the one retry schedule of
// the project; every retry loop owns one Backoff.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Default reconnect delays: the first retry comes quickly (a coderd restart
// behind a load balancer is often over in well under a second), the cap
// keeps a fleet of daemons from hammering a coderd that is coming back.
const (
	DefaultMin = 100 * time.Millisecond
	DefaultMax = 10 * time.Second
)

// Backoff yields exponentially growing, jittered delays between retries of
// one caller. It is not safe for concurrent use: each retry loop owns one.
//
// The n-th delay is drawn uniformly from [d/2, d] with d = min(max,
// min*2^n) ("equal jitter"): the spread keeps daemons that lost coderd at
// the same moment from returning in lockstep, and the lower bound keeps the
// growth that protects a struggling server.
type Backoff struct {
	min, max time.Duration
	rand     *rand.Rand

	cur time.Duration // the next un-jittered delay; 0 means min
}

// New returns a Backoff between minDelay and maxDelay (the defaults when
// zero) with a random jitter seed.
func New(minDelay, maxDelay time.Duration) *Backoff {
	return NewSeeded(minDelay, maxDelay, rand.Uint64())
}

// NewSeeded is New with a fixed jitter seed, so tests can reproduce a
// schedule, and callers that start many loops at once can spread them.
func NewSeeded(minDelay, maxDelay time.Duration, seed uint64) *Backoff {
	if minDelay <= 0 {
		minDelay = DefaultMin
	}
	if maxDelay < minDelay {
		maxDelay = max(DefaultMax, minDelay)
	}
	return &Backoff{min: minDelay, max: maxDelay, rand: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next returns the delay before the next retry and grows the following one.
func (b *Backoff) Next() time.Duration {
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
func (b *Backoff) Reset() { b.cur = 0 }

// Wait sleeps for Next(), or until ctx ends; it reports whether the full
// delay passed.
func (b *Backoff) Wait(ctx context.Context) bool {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
