package scaletest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
)

// Fleet is a set of running simulated agents. Stop ends them.
type Fleet struct {
	// Agents are in token order; agent i talks to replica i%len(bases).
	Agents []*Agent

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// StartFleet starts one agent per token, spread round-robin over the
// replicas at bases, with at most parallel of them starting at once (a
// deployment's agents come up as their workspaces do, not all in the same
// millisecond), and keeps them running until Stop. Each agent's first
// stats report comes after a random part of the stats interval. If an
// agent fails to start, the fleet is stopped and the first errors are
// returned.
func StartFleet(ctx context.Context, bases []*url.URL, hc *http.Client, tokens []string, rec *Recorder, parallel int) (*Fleet, error) {
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &Fleet{cancel: cancel}
	for i, tok := range tokens {
		f.Agents = append(f.Agents, NewAgent(bases[i%len(bases)], hc, tok, rec))
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	sem := make(chan struct{}, max(1, parallel))
	for i, a := range f.Agents {
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := a.Start(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("agent %d: %w", i, err))
				mu.Unlock()
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				a.Run(runCtx, Jitter(defaultStatsInterval))
			}()
		}()
	}
	wg.Wait()
	if len(errs) > 0 || ctx.Err() != nil {
		f.Stop()
		return nil, fmt.Errorf("%d agents failed to start: %w", len(errs), errors.Join(append(errs[:min(len(errs), 3)], ctx.Err())...))
	}
	return f, nil
}

// Stop ends every agent and waits for their goroutines.
func (f *Fleet) Stop() {
	f.cancel() // every request and websocket read of the agents takes it
	f.wg.Wait()
}

// Drops is the number of coordination websockets that dropped.
func (f *Fleet) Drops() int64 {
	var n int64
	for _, a := range f.Agents {
		n += a.Drops.Load()
	}
	return n
}
