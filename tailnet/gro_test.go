package tailnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"
	"testing"
)

// TestConcurrentConnectionsOneProcess: connections opened at once between
// two nodes of one process all carry their data. Segments of several
// connections arrive in one receive batch; before groBatches, GRO stranded
// some of them in a process-wide queue that the other node then took, and
// a connection was reset before its first byte (about one round in ten
// here).
func TestConcurrentConnectionsOneProcess(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	relay := newTestRelay(t)
	p := newEchoPair(ctx, t, Options{DERPMap: relay.derpMap})

	const (
		rounds = 15
		conns  = 8
		size   = 100_000
	)
	for round := range rounds {
		errs := make(chan error, conns)
		var wg sync.WaitGroup
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := echoHalfClose(ctx, p.client, p, size); err != nil {
					errs <- fmt.Errorf("round %d, connection %d: %w", round, i, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
	}
}

// echoHalfClose sends size random bytes to the echo service, closes its
// write side and checks that exactly those bytes come back before EOF.
func echoHalfClose(ctx context.Context, c *Conn, p echoPair, size int) error {
	nc, err := c.DialContextTCP(ctx, p.dst)
	if err != nil {
		return err
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	want := make([]byte, size)
	_, _ = rand.Read(want)
	werr := make(chan error, 1)
	go func() {
		_, err := nc.Write(want)
		if err == nil {
			err = nc.(interface{ CloseWrite() error }).CloseWrite()
		}
		werr <- err
	}()
	got, err := io.ReadAll(nc)
	if err != nil {
		return fmt.Errorf("read after %d of %d bytes: %w", len(got), size, err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("got %d bytes back, want the %d sent", len(got), size)
	}
	return nil
}
