package coderd_test

import (
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/userpassword"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// benchClients is how many clients BenchmarkUsersMe runs at once.
const benchClients = 32

// latencies collects per-request durations from many goroutines.
type latencies struct {
	mu  sync.Mutex // guards all
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d...)
}

// report adds p50/p99 (ms) and req/s to the benchmark's figures.
func (l *latencies) report(b *testing.B, elapsed time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	pct := func(p float64) float64 {
		i := min(len(l.all)-1, int(float64(len(l.all))*p))
		return float64(l.all[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(l.all))/elapsed.Seconds(), "req/s")
}

// benchHTTPClient keeps a connection per client alive, as a real fleet of
// CLIs and browsers would, instead of the default two idle per host.
func benchHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 2 * benchClients
	tr.MaxIdleConnsPerHost = 2 * benchClients
	return &http.Client{Transport: tr}
}

// BenchmarkUsersMe measures an authenticated read through the whole stack
// (HTTP, API-key lookup and hash check, user and membership queries on
// PostgreSQL, JSON) with benchClients concurrent clients.
func BenchmarkUsersMe(b *testing.B) {
	client, _ := coderdtest.New(b, nil)
	coderdtest.CreateFirstUser(b, client)
	client.HTTPClient = benchHTTPClient()
	ctx := testutil.Context(b, 10*time.Minute)
	_, err := client.User(ctx, codersdk.Me) // warm the pool and the connection
	require.NoError(b, err)

	var lat latencies
	b.SetParallelism(max(1, benchClients/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			_, err := client.User(ctx, codersdk.Me)
			mine = append(mine, time.Since(t0))
			if err != nil {
				b.Error(err)
				return
			}
		}
		lat.add(mine)
	})
	elapsed := time.Since(start)
	b.StopTimer()
	lat.report(b, elapsed)
}

// BenchmarkLogin measures one password login with the production argon2id
// cost (userpassword.Default), one at a time: the latency a user feels and
// the CPU a login costs the server.
func BenchmarkLogin(b *testing.B) {
	client, srv := coderdtest.New(b, &coderdtest.Options{PasswordParams: userpassword.Default})
	coderdtest.CreateFirstUser(b, client)
	anon := codersdk.New(srv.URL)
	anon.HTTPClient = benchHTTPClient()
	ctx := testutil.Context(b, 10*time.Minute)
	req := codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: coderdtest.FirstUserPassword}
	_, err := anon.LoginWithPassword(ctx, req)
	require.NoError(b, err)

	var (
		lat  latencies
		mine []time.Duration
	)
	start := time.Now()
	for b.Loop() {
		t0 := time.Now()
		_, err := anon.LoginWithPassword(ctx, req)
		mine = append(mine, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	lat.add(mine)
	lat.report(b, elapsed)
}
