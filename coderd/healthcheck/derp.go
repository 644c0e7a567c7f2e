package healthcheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
	"tailscale.com/net/stun"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"

	"github.com/opencoder/coder/codersdk"
)

// defaultSTUNPort is what tailcfg.DERPNode's STUNPort 0 means.
const defaultSTUNPort = 3478

// nodeResult is one probed node.
type nodeResult struct {
	node    *tailcfg.DERPNode
	latency time.Duration
	detail  string // what the node answered (the mapped address for STUN)
	err     error
}

// probeAll probes every node at once and waits for all of them; results
// keep the order of nodes.
func probeAll(ctx context.Context, nodes []*tailcfg.DERPNode, probe func(context.Context, *tailcfg.DERPNode) (string, error)) []nodeResult {
	out := make([]nodeResult, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			start := time.Now()
			detail, err := probe(ctx, n)
			out[i] = nodeResult{node: n, latency: time.Since(start), detail: detail, err: err}
		})
	}
	wg.Wait()
	return out
}

// sortedNodes lists the map's nodes that keep, by region then name.
func sortedNodes(m *tailcfg.DERPMap, keep func(*tailcfg.DERPNode) bool) []*tailcfg.DERPNode {
	var out []*tailcfg.DERPNode
	if m == nil {
		return nil
	}
	for _, r := range m.Regions {
		if r == nil {
			continue
		}
		for _, n := range r.Nodes {
			if n != nil && keep(n) {
				out = append(out, n)
			}
		}
	}
	slices.SortFunc(out, func(a, b *tailcfg.DERPNode) int {
		return cmp.Or(cmp.Compare(a.RegionID, b.RegionID), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// DERP connects to every relay node of m as a tailnet node would (the DERP
// handshake, over the node's advertised host and port) and closes again.
// It fails when a region has no node that answers: nodes whose home is
// that region, and peers that cannot connect directly, lose connectivity.
// An unreachable node in a region that has another is a warning.
func DERP(ctx context.Context, m *tailcfg.DERPMap, logf logger.Logf) codersdk.HealthCheck {
	nodes := sortedNodes(m, func(n *tailcfg.DERPNode) bool { return !n.STUNOnly })
	if len(nodes) == 0 {
		return codersdk.HealthCheck{Error: "the DERP map has no relay node: peers that cannot reach each other directly cannot connect"}
	}
	if logf == nil {
		logf = logger.Discard
	}
	netMon := netmon.NewStatic()
	results := probeAll(ctx, nodes, func(ctx context.Context, n *tailcfg.DERPNode) (string, error) {
		region := &tailcfg.DERPRegion{RegionID: n.RegionID, RegionCode: m.Regions[n.RegionID].RegionCode, Nodes: []*tailcfg.DERPNode{n}}
		c := derphttp.NewRegionClient(key.NewNode(), logf, netMon, func() *tailcfg.DERPRegion { return region })
		defer c.Close()
		if err := c.Connect(ctx); err != nil {
			return "", fmt.Errorf("derp handshake with %s: %w", net.JoinHostPort(n.HostName, strconv.Itoa(derpPort(n))), err)
		}
		return "", nil
	})
	check := codersdk.HealthCheck{Healthy: true}
	regionOK := map[int]bool{}
	for _, r := range results {
		regionOK[r.node.RegionID] = regionOK[r.node.RegionID] || r.err == nil
		check.LatencyMS = max(check.LatencyMS, r.latency.Milliseconds())
		if r.err != nil {
			check.Details = append(check.Details, fmt.Sprintf("region %d node %s: unreachable: %v", r.node.RegionID, r.node.Name, r.err))
			continue
		}
		check.Details = append(check.Details, fmt.Sprintf("region %d node %s (%s): connected in %d ms", r.node.RegionID, r.node.Name, net.JoinHostPort(r.node.HostName, strconv.Itoa(derpPort(r.node))), r.latency.Milliseconds()))
	}
	var failed []string
	for _, r := range results {
		switch {
		case !regionOK[r.node.RegionID]:
			if name := regionName(m, r.node.RegionID); !slices.Contains(failed, name) {
				failed = append(failed, name)
			}
		case r.err != nil:
			check.Warnings = append(check.Warnings, fmt.Sprintf("node %s of region %d is unreachable; the region's other nodes answer", r.node.Name, r.node.RegionID))
		}
	}
	if len(failed) > 0 {
		check.Healthy = false
		check.Error = fmt.Sprintf("no relay node answers in region %v: check that the access URL's host and port reach coderd, and that any proxy in front of it passes the DERP upgrade", failed)
	}
	return check
}

func derpPort(n *tailcfg.DERPNode) int {
	if n.DERPPort != 0 {
		return n.DERPPort
	}
	return 443
}

func regionName(m *tailcfg.DERPMap, id int) string {
	if r := m.Regions[id]; r != nil && r.RegionCode != "" {
		return fmt.Sprintf("%d (%s)", id, r.RegionCode)
	}
	return strconv.Itoa(id)
}

// STUN sends a binding request to every STUN server of m and waits for the
// answer (the address the server saw). It fails only when none answers:
// nodes need one to find their public address for direct connections. A
// map without STUN servers (STUN disabled) skips the check.
func STUN(ctx context.Context, m *tailcfg.DERPMap) codersdk.HealthCheck {
	nodes := sortedNodes(m, func(n *tailcfg.DERPNode) bool { return n.STUNPort >= 0 })
	if len(nodes) == 0 {
		return codersdk.HealthCheck{Healthy: true, Skipped: "STUN is disabled (the DERP map lists no STUN server): connections stay relayed through DERP unless peers reach each other's local addresses"}
	}
	results := probeAll(ctx, nodes, stunProbe)
	check := codersdk.HealthCheck{}
	for _, r := range results {
		addr := stunAddr(r.node)
		if r.err != nil {
			check.Details = append(check.Details, fmt.Sprintf("%s (%s): no answer: %v", r.node.Name, addr, r.err))
			check.Warnings = append(check.Warnings, fmt.Sprintf("STUN server %s does not answer", addr))
			continue
		}
		check.Healthy = true
		check.LatencyMS = max(check.LatencyMS, r.latency.Milliseconds())
		check.Details = append(check.Details, fmt.Sprintf("%s (%s): answered in %d ms, saw us as %s", r.node.Name, addr, r.latency.Milliseconds(), r.detail))
	}
	if !check.Healthy {
		check.Warnings = nil
		check.Error = "no STUN server answers: nodes cannot learn their public address, so connections stay relayed through DERP (check that UDP reaches the STUN port)"
	}
	return check
}

func stunAddr(n *tailcfg.DERPNode) string {
	host := n.HostName
	if ip := n.IPv4; ip != "" && ip != "none" {
		host = ip
	} else if ip := n.IPv6; ip != "" && ip != "none" {
		host = ip
	}
	port := n.STUNPort
	if port == 0 {
		port = defaultSTUNPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// stunProbe is one binding request and its answer.
func stunProbe(ctx context.Context, n *tailcfg.DERPNode) (string, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", stunAddr(n))
	if err != nil {
		return "", fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Close the socket when ctx ends without a deadline, so the read
	// returns.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	tx := stun.NewTxID()
	if _, err := conn.Write(stun.Request(tx)); err != nil {
		return "", fmt.Errorf("send binding request: %w", err)
	}
	buf := make([]byte, 1500)
	for {
		nr, err := conn.Read(buf)
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("wait for the answer: %w", ctx.Err())
			}
			return "", fmt.Errorf("wait for the answer: %w", err)
		}
		got, addr, err := stun.ParseResponse(buf[:nr])
		if err != nil || got != tx {
			continue // not our answer
		}
		if !addr.IsValid() {
			return "", errors.New("the answer carries no address")
		}
		return netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port()).String(), nil
	}
}
