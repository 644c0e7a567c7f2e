package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// drainer is what a stopping server drains: coderd (whose /healthz then
// fails) and the HTTP server (whose keep-alive connections then close
// after their current response).
type drainer struct {
	api interface{ Drain() }
	srv interface{ SetKeepAlivesEnabled(bool) }
}

// drain is the first step of a graceful stop behind a load balancer: for
// period the server goes on serving everything, but /healthz answers 503
// and connections are not kept alive, so the balancer's health checks take
// this replica out of its pool and its clients reconnect elsewhere, before
// the listener closes and in-flight requests are finished (http.Server's
// Shutdown). Without it, the balancer learns of the stop only from refused
// connections, and keeps sending requests to the port until then (and to
// the next process on it, while that one is starting).
//
// A lone replica has no one to drain to, so it stops at once; so does one
// told again to stop (skip receives: a second SIGINT/SIGTERM), or whose
// ctx ends (the process is going anyway).
func (d drainer) drain(ctx context.Context, period time.Duration, peers int, skip <-chan os.Signal, stderr io.Writer) {
	if period <= 0 || peers == 0 {
		return
	}
	d.api.Drain()
	d.srv.SetKeepAlivesEnabled(false)
	fmt.Fprintf(stderr, "Draining for %s: /healthz fails so load balancers stop sending requests here (stop again to skip)...\n", period)
	t := time.NewTimer(period)
	defer t.Stop()
	select {
	case <-t.C:
	case <-skip:
		fmt.Fprintln(stderr, "Stopping again: draining skipped.")
	case <-ctx.Done():
	}
}

// notifyStopAgain returns the channel of a second SIGINT/SIGTERM, and the
// function that stops listening.
func notifyStopAgain() (<-chan os.Signal, func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c, func() { signal.Stop(c) }
}
