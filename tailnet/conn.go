package tailnet

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go4.org/netipx"
	"tailscale.com/health"
	"tailscale.com/net/dns"
	"tailscale.com/net/ipset"
	"tailscale.com/net/netmon"
	"tailscale.com/net/tsdial"
	"tailscale.com/net/tstun"
	"tailscale.com/proxymap"
	"tailscale.com/tailcfg"
	"tailscale.com/types/ipproto"
	"tailscale.com/types/key"
	"tailscale.com/types/logger"
	"tailscale.com/types/netmap"
	"tailscale.com/types/views"
	"tailscale.com/util/eventbus"
	"tailscale.com/util/usermetric"
	"tailscale.com/wgengine"
	"tailscale.com/wgengine/filter"
	"tailscale.com/wgengine/magicsock"
	"tailscale.com/wgengine/netstack"
	"tailscale.com/wgengine/router"
	"tailscale.com/wgengine/wgcfg"

	"github.com/opencoder/coder/tailnet/proto"
)

// ErrClosed is returned by operations on a closed Conn.
var ErrClosed = errors.New("tailnet conn closed")

// Default timings, overridable in Options.
const (
	defaultNodeDebounce    = 50 * time.Millisecond
	defaultLostPeerTimeout = 15 * time.Minute
)

// Options configures NewConn.
type Options struct {
	// ID identifies this node (an agent ID, or a random client ID). It is
	// echoed in proto.Node.ID.
	ID uuid.UUID
	// Addresses are this node's tailnet addresses, single-IP prefixes
	// (AgentPrefix or RandomClientPrefix). Required.
	Addresses []netip.Prefix
	// DERPMap lists the relays; from NewDERPMap on coderd, fetched from
	// coderd by agents and clients. May be set later with SetDERPMap; until
	// then the node has no home DERP and is not reachable.
	DERPMap *tailcfg.DERPMap
	// BlockEndpoints keeps traffic on DERP: no endpoints are advertised and
	// those received from peers are ignored.
	BlockEndpoints bool
	// DERPForceWebSockets makes DERP connections use websockets, for
	// networks whose proxies drop the "Upgrade: DERP" request. Process-wide
	// and only available in binaries built with -tags ts_debug_websockets
	// (NewConn fails otherwise).
	DERPForceWebSockets bool
	// Logger receives this node's logs; upstream's chatter goes to Debug.
	// Nil discards.
	Logger *slog.Logger
	// ListenPort is the UDP port for WireGuard and disco; 0 picks one.
	ListenPort uint16
	// ForwardUnclaimedTCP forwards inbound TCP connections to ports nobody
	// Listens on to 127.0.0.1:<port>: the agent's port forwarding. When
	// false (CLI, coderd) they are refused.
	ForwardUnclaimedTCP bool
	// ForwardUnclaimedUDP is ForwardUnclaimedTCP for UDP flows.
	ForwardUnclaimedUDP bool
	// NodeDebounce is how long node changes are collected before the node
	// callback runs; default 50ms.
	NodeDebounce time.Duration
	// LostPeerTimeout is how long a peer reported "lost" keeps its
	// configuration (its data path may still work); default 15 minutes.
	LostPeerTimeout time.Duration
	// Trace, when set, is called with a short description of each step
	// of joining the tailnet (DERP connected, node published, peer added,
	// first handshake), so `coder ssh --debug-timings` can show where a
	// connection's time goes. Called from upstream's goroutines: it must be
	// safe for concurrent use and must not block.
	Trace func(event string)
}

// Conn is one tailnet node: a userspace WireGuard engine whose TCP/IP stack
// (netstack) lives in this process, so it needs no TUN device and no root.
// Packets travel directly over UDP when possible and through DERP relays
// otherwise (magicsock decides per peer).
//
// Conn is safe for concurrent use. Upstream calls back into it from its own
// goroutines (peer lookups on the packet path read the atomic peerTable,
// never a mutex; status and net-info callbacks only take nodeMu). Lock order:
// peerMu, then nodeMu; neither is held while calling the node callback.
type Conn struct {
	// Set at construction, then read-only.
	id          uuid.UUID
	addresses   []netip.Prefix
	log         *slog.Logger
	logf        logger.Logf
	privateKey  key.NodePrivate
	nodeKey     key.NodePublic
	discoKey    key.DiscoPublic
	self        tailcfg.NodeView
	forwardTCP  bool
	forwardUDP  bool
	debounce    time.Duration
	lostTimeout time.Duration
	trace       func(string)
	bus         *eventbus.Bus
	netMon      *netmon.Monitor
	health      *health.Tracker
	dialer      *tsdial.Dialer
	engine      wgengine.Engine
	magic       *magicsock.Conn
	netstack    *netstack.Impl

	// Lifecycle: closed is closed once by Close; wg joins nodeUpdater.
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	// nodeChanged (capacity 1) wakes nodeUpdater.
	nodeChanged chan struct{}

	// Atomic.
	blockEndpoints atomic.Bool
	peerTable      atomic.Pointer[peerTable]

	// peerMu guards the peer set and serialises peer changes into
	// magicsock and the engine (which require it).
	peerMu     sync.Mutex
	peers      map[uuid.UUID]*peer
	nextNodeID tailcfg.NodeID

	// nodeMu guards this node's published state.
	nodeMu        sync.Mutex
	preferredDERP int
	derpRegions   map[int]bool // the DERP map's region IDs
	derpLatency   map[string]float64
	endpoints     []string // sorted
	nodeCallback  func(*proto.Node)
	lastSent      *proto.Node

	// listenMu guards listeners.
	listenMu  sync.Mutex
	listeners map[uint16]*listener
}

// NewConn starts a tailnet node. Close it to release its sockets and
// goroutines.
func NewConn(opts *Options) (_ *Conn, err error) {
	if opts == nil {
		return nil, errors.New("new tailnet conn: nil options")
	}
	if len(opts.Addresses) == 0 {
		return nil, errors.New("new tailnet conn: no addresses")
	}
	for _, p := range opts.Addresses {
		if !p.IsValid() || !p.IsSingleIP() {
			return nil, fmt.Errorf("new tailnet conn: address %v is not a single-IP prefix", p)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	applyProcessKnobs()
	if opts.DERPForceWebSockets {
		if err := enableDERPWebSockets(); err != nil {
			return nil, fmt.Errorf("new tailnet conn: %w", err)
		}
	}

	c := &Conn{
		id:          opts.ID,
		addresses:   append([]netip.Prefix(nil), opts.Addresses...),
		log:         log,
		logf:        slogLogf(log),
		privateKey:  key.NewNode(),
		forwardTCP:  opts.ForwardUnclaimedTCP,
		forwardUDP:  opts.ForwardUnclaimedUDP,
		debounce:    opts.NodeDebounce,
		lostTimeout: opts.LostPeerTimeout,
		trace:       opts.Trace,
		closed:      make(chan struct{}),
		nodeChanged: make(chan struct{}, 1),
		peers:       make(map[uuid.UUID]*peer),
		listeners:   make(map[uint16]*listener),
	}
	if c.debounce <= 0 {
		c.debounce = defaultNodeDebounce
	}
	if c.lostTimeout <= 0 {
		c.lostTimeout = defaultLostPeerTimeout
	}
	c.nodeKey = c.privateKey.Public()
	c.blockEndpoints.Store(opts.BlockEndpoints)
	c.peerTable.Store(&peerTable{})

	// Undo whatever was built if a later step fails.
	var cleanups []func()
	defer func() {
		if err != nil {
			for i := len(cleanups) - 1; i >= 0; i-- {
				cleanups[i]()
			}
		}
	}()

	c.bus = eventbus.New()
	cleanups = append(cleanups, c.bus.Close)
	c.netMon, err = netmon.New(c.bus, c.logf)
	if err != nil {
		return nil, fmt.Errorf("new network monitor: %w", err)
	}
	cleanups = append(cleanups, func() { _ = c.netMon.Close() })
	c.health = health.NewTracker(c.bus)
	c.dialer = &tsdial.Dialer{Logf: c.logf}
	cleanups = append(cleanups, func() { _ = c.dialer.Close() })

	var (
		tun    *tstun.Wrapper
		dnsMgr *dns.Manager
	)
	c.engine, err = wgengine.NewUserspaceEngine(c.logf, wgengine.Config{
		EventBus:      c.bus,
		NetMon:        c.netMon,
		HealthTracker: c.health,
		Metrics:       &usermetric.Registry{},
		Dialer:        c.dialer,
		ListenPort:    opts.ListenPort,
		// Nil Tun, Router and DNS give a fake TUN (netstack takes the
		// packets) and no-op OS configuration.
		SetSubsystem: func(v any) {
			switch v := v.(type) {
			case *tstun.Wrapper:
				tun = v
			case *magicsock.Conn:
				c.magic = v
			case *dns.Manager:
				dnsMgr = v
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("new wireguard engine: %w", err)
	}
	cleanups = append(cleanups, c.engine.Close)
	if tun == nil || c.magic == nil || dnsMgr == nil {
		return nil, errors.New("new wireguard engine: subsystems missing")
	}
	c.discoKey = c.magic.DiscoPublicKey()

	c.netstack, err = netstack.Create(c.logf, tun, c.engine, c.magic, c.dialer, dnsMgr, &proxymap.Mapper{})
	if err != nil {
		return nil, fmt.Errorf("new netstack: %w", err)
	}
	cleanups = append(cleanups, func() { _ = c.netstack.Close() })
	tun.Start()
	c.netstack.ProcessLocalIPs = true
	c.netstack.GetTCPHandlerForFlow = c.tcpHandlerForFlow
	c.netstack.GetUDPHandlerForFlow = c.udpHandlerForFlow
	if err := c.netstack.Start(nil); err != nil {
		return nil, fmt.Errorf("start netstack: %w", err)
	}
	installGROBatches(tun)

	if err := c.configureEngine(); err != nil {
		return nil, err
	}
	if opts.DERPMap != nil {
		c.setDERPRegions(opts.DERPMap)
		c.magic.SetDERPMap(opts.DERPMap.Clone())
	}

	c.wg.Add(1)
	go c.nodeUpdater()
	return c, nil
}

// configureEngine installs our identity, addresses, packet filter and peer
// lookups into the freshly built engine.
func (c *Conn) configureEngine() error {
	self := &tailcfg.Node{
		ID:                1<<62 + 1, // never used for a peer (peers count from 1)
		StableID:          tailcfg.StableNodeID(c.id.String()),
		Name:              c.id.String(),
		Key:               c.nodeKey,
		DiscoKey:          c.discoKey,
		Addresses:         c.addresses,
		AllowedIPs:        c.addresses,
		MachineAuthorized: true,
		// Tailscale's peer relays need a control server; never use them.
		CapMap: tailcfg.NodeCapMap{tailcfg.NodeAttrDisableRelayClient: nil},
	}
	c.self = self.View()

	c.engine.SetPeerConfigFunc(c.peerAllowedIPs)
	c.engine.SetPeerByIPPacketFunc(c.peerKeyForIP)
	c.engine.SetPeerForIPFunc(c.peerForIP)
	c.engine.SetFilter(c.newFilter())
	c.engine.SetSelfNode(c.self)
	c.engine.SetStatusCallback(c.onEngineStatus)
	c.magic.SetNetInfoCallback(c.onNetInfo)
	c.magic.SetNetworkMap(c.self, nil)
	// Magicsock takes the link state from netmon; a host whose only "up"
	// interface is loopback (containers, tests) still has a network.
	c.magic.SetNetworkUp(true)

	err := c.engine.Reconfig(
		&wgcfg.Config{PrivateKey: c.privateKey, Addresses: c.addresses},
		&router.Config{LocalAddrs: c.addresses},
		&dns.Config{},
	)
	if err != nil && !errors.Is(err, wgengine.ErrNoChanges) {
		return fmt.Errorf("configure wireguard engine: %w", err)
	}
	c.netstack.UpdateNetstackIPs(&netmap.NetworkMap{SelfNode: c.self, NodeKey: c.nodeKey})
	return nil
}

// newFilter admits TCP, UDP and ICMP to our own addresses from anyone
// WireGuard let in: the engine drops packets whose source is not in the
// sending peer's AllowedIPs, and which peers exist at all is decided by the
// coordinator. (Upstream's default filter drops everything.)
func (c *Conn) newFilter() *filter.Filter {
	var local netipx.IPSetBuilder
	dsts := make([]filter.NetPortRange, 0, len(c.addresses))
	for _, p := range c.addresses {
		local.AddPrefix(p)
		dsts = append(dsts, filter.NetPortRange{Net: p, Ports: filter.PortRange{First: 0, Last: 65535}})
	}
	localSet, _ := local.IPSet()
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	any6 := netip.MustParsePrefix("::/0")
	matches := []filter.Match{{
		IPProto:      views.SliceOf([]ipproto.Proto{ipproto.TCP, ipproto.UDP, ipproto.ICMPv4, ipproto.ICMPv6}),
		Srcs:         []netip.Prefix{any4, any6},
		SrcsContains: ipset.NewContainsIPFunc(views.SliceOf([]netip.Prefix{any4, any6})),
		Dsts:         dsts,
	}}
	return filter.New(matches, nil, localSet, localSet, nil, c.logf)
}

// Addresses returns this node's tailnet addresses.
func (c *Conn) Addresses() []netip.Prefix {
	return append([]netip.Prefix(nil), c.addresses...)
}

// SetDERPMap replaces the relay map (for example when coderd's changes).
func (c *Conn) SetDERPMap(m *tailcfg.DERPMap) {
	if m == nil {
		m = &tailcfg.DERPMap{}
	}
	c.setDERPRegions(m)
	c.magic.SetDERPMap(m.Clone())
}

// SetBlockEndpoints switches relay-only mode on or off: it re-publishes our
// node with or without endpoints and re-applies every peer's node likewise.
func (c *Conn) SetBlockEndpoints(block bool) {
	if c.blockEndpoints.Swap(block) == block {
		return
	}
	c.peerMu.Lock()
	if c.isClosed() {
		c.peerMu.Unlock()
		return
	}
	for _, p := range c.peers {
		if err := c.applyPeerLocked(p); err != nil {
			c.log.Warn("reapply peer after block endpoints change", "peer", p.id, "error", err)
		}
	}
	c.rebuildPeerTableLocked()
	c.peerMu.Unlock()
	c.signalNodeChanged()
}

// Close shuts the node down. It is idempotent; later calls return nil.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.listenMu.Lock()
		for _, ln := range c.listeners {
			ln.closeOnce.Do(func() { close(ln.done) })
		}
		c.listeners = map[uint16]*listener{}
		c.listenMu.Unlock()

		c.peerMu.Lock()
		for _, p := range c.peers {
			if p.lostTimer != nil {
				p.lostTimer.Stop()
			}
		}
		c.peerMu.Unlock()

		_ = c.netstack.Close()
		c.engine.Close()
		_ = c.netMon.Close()
		_ = c.dialer.Close()
		c.wg.Wait()
		c.bus.Close()
	})
	return nil
}

// traceEvent reports a step to Options.Trace, if set.
func (c *Conn) traceEvent(format string, args ...any) {
	if c.trace != nil {
		c.trace(fmt.Sprintf(format, args...))
	}
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// packetSummary is for debug logs of refused flows.
func packetSummary(src, dst netip.AddrPort) string {
	return fmt.Sprintf("%v -> %v", src, dst)
}

// setCoordinated tells magicsock whether node changes currently reach peers
// (upstream's "in map poll" health state, normally about the control
// server). Only while they do will it move its home DERP to a better region;
// otherwise peers would lose track of it.
func (c *Conn) setCoordinated(on bool) {
	if on {
		c.health.GotStreamedMapResponse()
	} else {
		c.health.SetOutOfPollNetMap()
	}
}
