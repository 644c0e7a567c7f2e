package tailnet

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"
)

// CheckDERPRelay proves that two DERP servers relay for each other: a
// throwaway node connects to fromURL's DERP server and another to toURL's
// (each a base URL: the DERP endpoint is /derp under it), and the first
// sends to the second, again every 100 ms, until a packet arrives or ctx
// ends. With one replica both URLs may be the same; with several, each
// replica's own relay address, this is the DERP mesh carrying a packet.
func CheckDERPRelay(ctx context.Context, fromURL, toURL string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait() // after the clients close (deferred later, so run first)
	from, err := checkClient(ctx, fromURL, key.NewNode(), log)
	if err != nil {
		return err
	}
	defer from.Close()
	// Reading keeps the connection served (pings, "peer gone" news).
	wg.Go(func() {
		for {
			if _, err := from.Recv(); err != nil {
				return
			}
		}
	})
	toKey := key.NewNode()
	to, err := checkClient(ctx, toURL, toKey, log)
	if err != nil {
		return err
	}
	defer to.Close()
	payload := []byte("coder derp relay check " + toKey.Public().ShortString())
	got := make(chan struct{})
	wg.Go(func() {
		for {
			m, err := to.Recv()
			if err != nil {
				return
			}
			if p, ok := m.(derp.ReceivedPacket); ok && string(p.Data) == string(payload) {
				close(got)
				for {
					if _, err := to.Recv(); err != nil {
						return
					}
				}
			}
		}
	})
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if err := from.Send(toKey.Public(), payload); err != nil {
			return fmt.Errorf("send through %s: %w", fromURL, err)
		}
		select {
		case <-got:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("a packet sent through %s never reached a node on %s: %w", fromURL, toURL, ctx.Err())
		case <-t.C:
		}
	}
}

func checkClient(ctx context.Context, base string, k key.NodePrivate, log *slog.Logger) (*derphttp.Client, error) {
	u, err := meshURL(base)
	if err != nil {
		return nil, fmt.Errorf("DERP URL %q: %w", base, err)
	}
	c, err := derphttp.NewClient(k, u, slogLogf(log), netmon.NewStatic())
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connect to %s: %w", u, err)
	}
	return c, nil
}
