package tailnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"tailscale.com/ipn/ipnstate"
	"tailscale.com/tailcfg"
	"tailscale.com/types/nettype"

	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/tailnet/proto"
)

// This file is the data plane API: listening, dialing, pinging and path
// status, all through netstack (no OS sockets on the tailnet side).

// Listen listens for TCP connections to this node's tailnet addresses.
// network is "tcp", "tcp4" or "tcp6"; address is ":port" or "[addr]:port"
// where addr is one of our tailnet addresses. One listener per port.
func (c *Conn) Listen(network, address string) (net.Listener, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("listen %s: unsupported network", network)
	}
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("listen %s: need a port in 1-65535", address)
	}
	addr := c.addresses[0].Addr()
	if host != "" {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", address, err)
		}
		if !ip.IsUnspecified() && !slices.ContainsFunc(c.addresses, func(p netip.Prefix) bool { return p.Addr() == ip }) {
			return nil, fmt.Errorf("listen %s: %v is not an address of this node", address, ip)
		}
		if !ip.IsUnspecified() {
			addr = ip
		}
	}
	ln := &listener{
		c:     c,
		port:  uint16(port),
		addr:  net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))),
		conns: make(chan net.Conn),
		done:  make(chan struct{}),
	}
	c.listenMu.Lock()
	defer c.listenMu.Unlock()
	if c.isClosed() {
		return nil, ErrClosed
	}
	if _, ok := c.listeners[ln.port]; ok {
		return nil, fmt.Errorf("listen %s: port already in use", address)
	}
	c.listeners[ln.port] = ln
	return ln, nil
}

// listener hands inbound netstack TCP connections for one port to Accept.
type listener struct {
	c         *Conn
	port      uint16
	addr      net.Addr
	conns     chan net.Conn // unbuffered: a conn is either accepted or closed
	done      chan struct{}
	closeOnce sync.Once
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return withStableAddrs(nc), nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.c.listenMu.Lock()
		if l.c.listeners[l.port] == l {
			delete(l.c.listeners, l.port)
		}
		l.c.listenMu.Unlock()
	})
	return nil
}

func (l *listener) Addr() net.Addr { return l.addr }

// handle runs on netstack's per-connection goroutine.
func (l *listener) handle(nc net.Conn) {
	select {
	case l.conns <- nc:
	case <-l.done:
		_ = nc.Close()
	}
}

// tcpHandlerForFlow decides the fate of an inbound TCP connection: a
// listener takes it; otherwise it is forwarded to the host's loopback
// (agents) or refused.
func (c *Conn) tcpHandlerForFlow(src, dst netip.AddrPort) (func(net.Conn), bool) {
	c.listenMu.Lock()
	ln, ok := c.listeners[dst.Port()]
	c.listenMu.Unlock()
	if ok {
		return ln.handle, true
	}
	if c.forwardTCP {
		return nil, false // netstack forwards to 127.0.0.1:<port>
	}
	c.log.Debug("refuse inbound tcp to unclaimed port", "flow", packetSummary(src, dst))
	return nil, true
}

// udpHandlerForFlow forwards inbound UDP like TCP, or refuses it.
func (c *Conn) udpHandlerForFlow(src, dst netip.AddrPort) (func(nettype.ConnPacketConn), bool) {
	if c.forwardUDP {
		return nil, false
	}
	c.log.Debug("refuse inbound udp", "flow", packetSummary(src, dst))
	return nil, true
}

// DialContextTCP opens a TCP connection to a peer over the tailnet.
func (c *Conn) DialContextTCP(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	if c.isClosed() {
		return nil, ErrClosed
	}
	src, ok := c.sourceFor(dst.Addr())
	if !ok {
		return nil, fmt.Errorf("dial %v: no tailnet address of the same family", dst)
	}
	nc, err := c.netstack.DialContextTCPWithBind(ctx, src, dst)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", dst, err)
	}
	return nc, nil
}

func (c *Conn) sourceFor(dst netip.Addr) (netip.Addr, bool) {
	for _, p := range c.addresses {
		if p.Addr().Is4() == dst.Is4() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// Ping sends a disco ping (magicsock's path probe, which needs no WireGuard
// session) to the peer owning ip and waits for the reply or ctx. It reports
// the round trip, whether the reply came over a direct UDP path, and
// otherwise the DERP region that relayed it.
func (c *Conn) Ping(ctx context.Context, ip netip.Addr) (latency time.Duration, direct bool, derpRegion int, err error) {
	if c.isClosed() {
		return 0, false, 0, ErrClosed
	}
	res := make(chan *ipnstate.PingResult, 1)
	c.engine.Ping(ip, tailcfg.PingDisco, 0, func(r *ipnstate.PingResult) {
		select {
		case res <- r:
		default: // only the first answer counts
		}
	})
	select {
	case <-ctx.Done():
		return 0, false, 0, fmt.Errorf("ping %v: %w", ip, ctx.Err())
	case <-c.closed:
		return 0, false, 0, ErrClosed
	case r := <-res:
		if r.Err != "" {
			return 0, false, 0, fmt.Errorf("ping %v: %s", ip, r.Err)
		}
		latency = time.Duration(r.LatencySeconds * float64(time.Second))
		return latency, r.Endpoint != "", r.DERPRegionID, nil
	}
}

// AwaitReachable pings ip until it answers (true) or ctx ends (false).
//
// A ping sent before the peer knows our node (its coordinator update may
// arrive after ours) is dropped by the peer, never answered: waiting for
// it to time out would cost a whole attempt. So pings overlap: a new one
// leaves every retry interval (50ms at first, growing to maxInterval)
// while earlier ones are still out, and the first answer wins.
func (c *Conn) AwaitReachable(ctx context.Context, ip netip.Addr) bool {
	const (
		maxInterval = time.Second
		attemptTTL  = 5 * time.Second
	)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the pings end with ctx
	defer cancel()
	answered := make(chan bool, 1) // true: a pong; false: the Conn closed
	report := func(v bool) {
		select {
		case answered <- v:
		default:
		}
	}
	retry := backoff.New(50*time.Millisecond, maxInterval)
	for {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attemptCtx, attemptCancel := context.WithTimeout(ctx, attemptTTL)
			defer attemptCancel()
			_, _, _, err := c.Ping(attemptCtx, ip)
			switch {
			case err == nil:
				report(true)
			case errors.Is(err, ErrClosed):
				report(false)
			}
		}()
		t := time.NewTimer(retry.Next())
		select {
		case ok := <-answered:
			t.Stop()
			return ok
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// Status describes this node and the paths to its peers.
type Status struct {
	// Node is this node's current description (nil until its home DERP is
	// known).
	Node *proto.Node
	// Peers lists the configured peers.
	Peers []PeerStatus
}

// PeerStatus is the path to one peer.
type PeerStatus struct {
	ID        uuid.UUID
	Addresses []netip.Prefix
	// Direct is true when packets currently go over direct UDP, to
	// Endpoint. Otherwise they are relayed through DERPRegion (the peer's
	// home region).
	Direct     bool
	Endpoint   string
	DERPRegion int
	// Active is true when we sent to the peer recently.
	Active        bool
	LastHandshake time.Time
	RxBytes       int64
	TxBytes       int64
	// Lost is true when the coordinator reported the peer's coordination
	// connection gone; it is forgotten after Options.LostPeerTimeout.
	Lost bool
}

// Status reports the current path to every peer.
func (c *Conn) Status() Status {
	sb := &ipnstate.StatusBuilder{WantPeers: true}
	c.engine.UpdateStatus(sb)
	st := sb.Status()

	c.peerMu.Lock()
	peers := make([]PeerStatus, 0, len(c.peers))
	for _, p := range c.peers {
		ps := PeerStatus{
			ID:         p.id,
			Addresses:  slices.Clone(p.node.Addresses),
			DERPRegion: p.view.HomeDERP(),
			Lost:       p.lost,
		}
		if s, ok := st.Peer[p.key]; ok {
			ps.Direct = s.CurAddr != ""
			ps.Endpoint = s.CurAddr
			ps.Active = s.Active
			ps.LastHandshake = s.LastHandshake
			ps.RxBytes = s.RxBytes
			ps.TxBytes = s.TxBytes
		}
		peers = append(peers, ps)
	}
	c.peerMu.Unlock()
	slices.SortFunc(peers, func(a, b PeerStatus) int { return compareUUID(a.ID, b.ID) })
	return Status{Node: c.Node(), Peers: peers}
}

// PeerStatus returns the path to the peer with the given ID.
func (c *Conn) PeerStatus(id uuid.UUID) (PeerStatus, bool) {
	for _, p := range c.Status().Peers {
		if p.ID == id {
			return p, true
		}
	}
	return PeerStatus{}, false
}

func compareUUID(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// stableAddrConn remembers a connection's addresses from when it was
// accepted: gVisor's netstack conns answer nil once their endpoint is gone,
// and callers log RemoteAddr().String() after errors.
type stableAddrConn struct {
	net.Conn
	local, remote net.Addr
}

func withStableAddrs(nc net.Conn) net.Conn {
	c := &stableAddrConn{Conn: nc, local: nc.LocalAddr(), remote: nc.RemoteAddr()}
	if c.local == nil {
		c.local = &net.TCPAddr{}
	}
	if c.remote == nil {
		c.remote = &net.TCPAddr{}
	}
	return c
}

func (c *stableAddrConn) LocalAddr() net.Addr  { return c.local }
func (c *stableAddrConn) RemoteAddr() net.Addr { return c.remote }

// CloseWrite and CloseRead keep the half-close the netstack conn offers.
func (c *stableAddrConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return nil
}

func (c *stableAddrConn) CloseRead() error {
	if hc, ok := c.Conn.(interface{ CloseRead() error }); ok {
		return hc.CloseRead()
	}
	return nil
}
