// Package servertailnet is coderd's own node on the tailnet: one
// tailnet.Conn for the whole process, through which coderd reaches any
// workspace agent (the web terminal, the dashboard's ping, later apps and
// port forwarding) without a tailnet node per agent or per user.
//
// The node is coordinated in process (tailnet.Tunnels: no websocket) and
// may tunnel to every agent; who may reach which agent is decided by
// coderd's HTTP layer before it calls Dial or Ping. Its traffic goes
// through coderd's embedded DERP relay, or directly when the deployment
// allows (BlockEndpoints makes it relay only).
//
// Tunnels are cached per agent with reference counts: the first Dial or
// Ping of an agent adds its tunnel, and IdleTimeout after the last
// connection to it closed the tunnel is removed and the peer dropped. The
// node itself is started on first use, so a coderd nobody uses through the
// browser runs no WireGuard engine.
package servertailnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/tailnet"
)

// Defaults of Options.
const (
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultReachableTimeout = 20 * time.Second
)

// ErrAgentNotConnected is returned by Dial and Ping for an agent that has
// no coordination connection to this coderd (workspace stopped, agent not
// started or gone).
var ErrAgentNotConnected = errors.New("the agent is not connected")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("server tailnet closed")

// ErrAgentUnreachable is returned when the agent is connected to the
// coordinator but did not answer on the tailnet within ReachableTimeout.
var ErrAgentUnreachable = errors.New("the agent is connected but unreachable over the tailnet")

// Options configure New. Coordinator and DERPMap are required.
type Options struct {
	// Coordinator is coderd's coordinator, in this process.
	Coordinator *tailnet.Coordinator
	// DERPMap returns the deployment's DERP map (tailcfg.DERPMap JSON),
	// read when the node starts.
	DERPMap func() json.RawMessage
	// BlockEndpoints keeps the node's traffic on DERP (--block-direct-connections).
	BlockEndpoints bool
	// DERPForceWebSockets speaks DERP over websockets.
	DERPForceWebSockets bool
	// IdleTimeout is how long an agent's tunnel stays after its last
	// connection closed; default DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ReachableTimeout bounds the wait for an agent's first answer;
	// default DefaultReachableTimeout.
	ReachableTimeout time.Duration
	Logger           *slog.Logger
}

// Server is coderd's tailnet node. Safe for concurrent use.
//
// Concurrency: opts is read-only; mu guards the lazily started node
// (tc, tunnels, cache) and closed.
type Server struct {
	opts Options

	mu      sync.Mutex
	closed  bool
	tc      *tailnet.Conn
	tunnels *tailnet.Tunnels
	cache   *agentCache
	derp    map[int]string // region ID -> name, from the map the node uses
}

// New returns a Server; its node starts on first use. Close it.
func New(opts Options) (*Server, error) {
	if opts.Coordinator == nil || opts.DERPMap == nil {
		return nil, errors.New("server tailnet: Coordinator and DERPMap are required")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ReachableTimeout <= 0 {
		opts.ReachableTimeout = DefaultReachableTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: opts}, nil
}

// start returns the node, starting it on first use.
func (s *Server) start() (*tailnet.Conn, *agentCache, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if s.tc != nil {
		return s.tc, s.cache, nil
	}
	derpMap, err := tailnet.ParseDERPMap(s.opts.DERPMap())
	if err != nil {
		return nil, nil, fmt.Errorf("server tailnet: %w", err)
	}
	tc, err := tailnet.NewConn(&tailnet.Options{
		ID: uuid.New(), Addresses: []netip.Prefix{tailnet.RandomClientPrefix()}, DERPMap: derpMap,
		BlockEndpoints: s.opts.BlockEndpoints, DERPForceWebSockets: s.opts.DERPForceWebSockets,
		Logger: s.opts.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("server tailnet: start node: %w", err)
	}
	s.derp = make(map[int]string)
	if derpMap != nil {
		for id, r := range derpMap.Regions {
			if r != nil {
				s.derp[id] = r.RegionName
			}
		}
	}
	s.tc = tc
	s.tunnels = tailnet.NewTunnels(s.opts.Coordinator, tc, s.opts.Logger)
	s.cache = newAgentCache(s.tunnels, s.opts.IdleTimeout)
	return tc, s.cache, nil
}

// AgentConnected reports whether the agent has a coordination connection.
func (s *Server) AgentConnected(agent uuid.UUID) bool {
	return s.opts.Coordinator.AgentConnected(agent)
}

// use takes a reference to agent's tunnel and waits until the agent
// answers. On success the caller must call release.
func (s *Server) use(ctx context.Context, agent uuid.UUID) (_ *tailnet.Conn, release func(), _ error) {
	if !s.AgentConnected(agent) {
		return nil, nil, fmt.Errorf("agent %s: %w", agent, ErrAgentNotConnected)
	}
	tc, cache, err := s.start()
	if err != nil {
		return nil, nil, err
	}
	release, err = cache.acquire(agent)
	if err != nil {
		return nil, nil, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, s.opts.ReachableTimeout)
	defer cancel()
	if !tc.AwaitReachable(waitCtx, tailnet.AgentIP(agent)) {
		release()
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("agent %s: %w", agent, err)
		}
		if !s.AgentConnected(agent) {
			return nil, nil, fmt.Errorf("agent %s: %w", agent, ErrAgentNotConnected)
		}
		return nil, nil, fmt.Errorf("agent %s: %w (waited %s)", agent, ErrAgentUnreachable, s.opts.ReachableTimeout)
	}
	return tc, release, nil
}

// Dial opens a TCP connection to port on the agent's tailnet address,
// waiting (up to ReachableTimeout) for the agent to become reachable. The
// agent's tunnel is held until the connection is closed.
func (s *Server) Dial(ctx context.Context, agent uuid.UUID, port uint16) (net.Conn, error) {
	tc, release, err := s.use(ctx, agent)
	if err != nil {
		return nil, err
	}
	nc, err := tc.DialContextTCP(ctx, netip.AddrPortFrom(tailnet.AgentIP(agent), port))
	if err != nil {
		release()
		return nil, fmt.Errorf("agent %s: %w", agent, err)
	}
	return &releasingConn{Conn: nc, release: release}, nil
}

// PingResult is one round trip to an agent.
type PingResult struct {
	Latency time.Duration
	// Direct is true when the answer came over a direct UDP path; otherwise
	// it was relayed by DERPRegionID (named DERPRegionName).
	Direct         bool
	DERPRegionID   int
	DERPRegionName string
}

// Ping measures one round trip to the agent and reports the path taken.
func (s *Server) Ping(ctx context.Context, agent uuid.UUID) (PingResult, error) {
	tc, release, err := s.use(ctx, agent)
	if err != nil {
		return PingResult{}, err
	}
	defer release()
	latency, direct, region, err := tc.Ping(ctx, tailnet.AgentIP(agent))
	if err != nil {
		return PingResult{}, fmt.Errorf("agent %s: %w", agent, err)
	}
	r := PingResult{Latency: latency, Direct: direct}
	if !direct {
		r.DERPRegionID = region
		s.mu.Lock()
		r.DERPRegionName = s.derp[region]
		s.mu.Unlock()
	}
	return r, nil
}

// Agents is the number of agents with a tunnel (in use or idle), for
// tests and metrics.
func (s *Server) Agents() int {
	s.mu.Lock()
	cache := s.cache
	s.mu.Unlock()
	if cache == nil {
		return 0
	}
	return cache.len()
}

// Close stops the node: open connections through it fail, the agents are
// told coderd left, and every goroutine is joined. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	tc, tunnels, cache := s.tc, s.tunnels, s.cache
	s.mu.Unlock()
	if tc == nil {
		return nil
	}
	cache.close()
	_ = tunnels.Close()
	return tc.Close()
}

// releasingConn gives the agent's tunnel reference back when closed.
type releasingConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *releasingConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
