package replicasync

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/opencoder/coder/coderd/database"
)

// Probe timeouts: a peer's relay answers its latency check in
// milliseconds; one that takes seconds is as good as unreachable for
// relayed traffic.
const (
	minProbeTimeout = time.Second
	maxProbeTimeout = 5 * time.Second
)

// ErrNoRelayAddress is the problem a replica reports about itself when it
// has peers but no relay address: they cannot forward DERP packets to the
// clients connected to it.
const ErrNoRelayAddress = "this replica has no relay address, so its peers cannot forward DERP packets to clients connected to it"

// checkPeers describes what is wrong between this replica and its peers,
// "" when nothing: a missing relay address of its own, or peers whose
// relay this replica cannot reach (probed concurrently at
// <relay>/derp/latency-check). kind names the problems without their
// error texts, which may vary from one probe to the next: announcing and
// logging follow kind, so a flapping message cannot make every replica
// re-read the table on every heartbeat.
func (m *Manager) checkPeers(ctx context.Context, peers []database.Replica) (text, kind string) {
	var problems, kinds []string
	if m.opts.RelayAddress == "" && len(peers) > 0 {
		problems = append(problems, ErrNoRelayAddress)
		kinds = append(kinds, "no-relay")
	}
	timeout := min(max(m.opts.Interval, minProbeTimeout), maxProbeTimeout)
	failures := make([]string, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		if p.RelayAddress == "" {
			continue // it reports that itself
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := m.probeRelay(ctx, p.RelayAddress); err != nil {
				failures[i] = fmt.Sprintf("%s (%s): %v", p.Hostname, p.RelayAddress, err)
			}
		})
	}
	wg.Wait()
	var unreachable []string
	for i, f := range failures {
		if f != "" {
			unreachable = append(unreachable, f)
			kinds = append(kinds, "unreachable:"+peers[i].ID.String())
		}
	}
	if len(unreachable) > 0 {
		problems = append(problems, "cannot reach the relay of peers "+strings.Join(unreachable, "; "))
	}
	return strings.Join(problems, "; "), strings.Join(kinds, " ")
}

func (m *Manager) probeRelay(ctx context.Context, relay string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, relay+"/derp/latency-check", nil)
	if err != nil {
		return err
	}
	res, err := m.probe.Do(req)
	if err != nil {
		return err
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("latency check answered %s", res.Status)
	}
	return nil
}

// peerSeesDatabase reports whether any peer's /healthz, at its relay
// address, answers 200: that peer reaches the database (probed
// concurrently, each within the probe timeout).
func (m *Manager) peerSeesDatabase(ctx context.Context, peers []database.Replica) bool {
	timeout := min(max(m.opts.Interval, minProbeTimeout), maxProbeTimeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	healthy := make(chan bool, len(peers))
	var wg sync.WaitGroup
	for _, p := range peers {
		if p.RelayAddress == "" {
			continue
		}
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.RelayAddress+"/healthz", nil)
			if err != nil {
				return
			}
			res, err := m.probe.Do(req)
			if err != nil {
				return
			}
			_ = res.Body.Close()
			healthy <- res.StatusCode == http.StatusOK
		})
	}
	wg.Wait()
	close(healthy)
	for ok := range healthy {
		if ok {
			return true
		}
	}
	return false
}
