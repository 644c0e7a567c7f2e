// Package agentconn joins a client (the CLI) to a workspace agent over the
// tailnet: it fetches the DERP map, starts a userspace tailnet node, keeps a
// coordination websocket open (reconnecting when coderd restarts), and dials
// the agent's services.
package agentconn

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
)

// Ports the agent serves on its tailnet address: the contract between the
// agent (which listens on them) and its clients (which dial them).
const (
	SSHPort             = 1
	ReconnectingPTYPort = 2
	SpeedtestPort       = 3
	// SSHPortStandard serves SSH too, for clients that dial the agent's
	// address with a stock ssh and no port.
	SSHPortStandard = 22
)

// Conn is a tailnet connection to one agent.
type Conn struct {
	// Set at construction.
	AgentID uuid.UUID
	tc      *tailnet.Conn
	log     *slog.Logger
	cancel  context.CancelFunc
	wg      sync.WaitGroup // joins the coordination loop

	closeOnce sync.Once
}

// Options tune Dial.
type Options struct {
	Logger *slog.Logger
	// BlockEndpoints forces relayed (DERP) traffic even when the
	// deployment allows direct connections.
	BlockEndpoints bool
	// Trace, when set, receives each step of joining the tailnet (see
	// tailnet.Options.Trace); `coder ssh --debug-timings` prints them.
	Trace func(event string)
}

func (o Options) trace(event string) {
	if o.Trace != nil {
		o.Trace(event)
	}
}

// Dial joins the tailnet and starts coordinating with the agent. The agent
// may not be reachable yet: use AwaitReachable.
func Dial(ctx context.Context, client *codersdk.Client, agentID uuid.UUID, opts Options) (*Conn, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	info, err := client.WorkspaceAgentConnectionInfo(ctx, agentID)
	if err != nil {
		return nil, fmt.Errorf("get connection info: %w", err)
	}
	opts.trace("api: connection info fetched")
	tailnet.ConfigureDERPScheme(client.URL)
	derpMap, err := tailnet.ParseDERPMap(info.DERPMap)
	if err != nil {
		return nil, err
	}
	tc, err := tailnet.NewConn(&tailnet.Options{
		ID: uuid.New(), Addresses: []netip.Prefix{tailnet.RandomClientPrefix()}, DERPMap: derpMap,
		BlockEndpoints: info.DisableDirectConnections || opts.BlockEndpoints, DERPForceWebSockets: info.DERPForceWebSockets,
		Logger: opts.Logger, Trace: opts.Trace,
	})
	if err != nil {
		return nil, fmt.Errorf("start tailnet: %w", err)
	}
	opts.trace("tailnet: conn started")
	// The first coordination connection is made here so authorization
	// errors (not allowed, browser-only) surface at once.
	ws, err := client.DialWorkspaceAgentCoordinator(ctx, agentID)
	if err != nil {
		_ = tc.Close()
		return nil, fmt.Errorf("connect to coordinator: %w", err)
	}
	opts.trace("api: coordinator connected")
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &Conn{AgentID: agentID, tc: tc, log: opts.Logger, cancel: cancel}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.coordinate(loopCtx, client, ws)
	}()
	return c, nil
}

func (c *Conn) coordinate(ctx context.Context, client *codersdk.Client, ws wsConn) {
	bo := backoff.New(250*time.Millisecond, 10*time.Second)
	first := true
	for ctx.Err() == nil {
		var err error
		if first {
			first = false
			err = tailnet.Coordinate(ctx, ws, c.tc, &c.AgentID)
		} else {
			var conn wsConn
			conn, err = client.DialWorkspaceAgentCoordinator(ctx, c.AgentID)
			if err == nil {
				bo.Reset()
				err = tailnet.Coordinate(ctx, conn, c.tc, &c.AgentID)
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Debug("coordination lost; reconnecting", "error", err)
		if !bo.Wait(ctx) {
			return
		}
	}
}

// AgentIP is the agent's tailnet address.
func (c *Conn) AgentIP() netip.Addr { return tailnet.AgentIP(c.AgentID) }

// AwaitReachable waits until the agent answers on the tailnet.
func (c *Conn) AwaitReachable(ctx context.Context) bool { return c.tc.AwaitReachable(ctx, c.AgentIP()) }

// DialPort opens a TCP connection to a port of the agent.
func (c *Conn) DialPort(ctx context.Context, port uint16) (net.Conn, error) {
	return c.tc.DialContextTCP(ctx, netip.AddrPortFrom(c.AgentIP(), port))
}

// SSH opens a connection to the agent's SSH server.
func (c *Conn) SSH(ctx context.Context) (net.Conn, error) { return c.DialPort(ctx, SSHPort) }

// Ping measures one round trip and reports the path.
func (c *Conn) Ping(ctx context.Context) (latency time.Duration, direct bool, derpRegion int, err error) {
	return c.tc.Ping(ctx, c.AgentIP())
}

// PeerStatus reports the current path to the agent.
func (c *Conn) PeerStatus() (tailnet.PeerStatus, bool) { return c.tc.PeerStatus(c.AgentID) }

// Close leaves the tailnet. Idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		c.wg.Wait()
		_ = c.tc.Close()
	})
	return nil
}

type wsConn = *websocket.Conn
