package coderd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/opencoder/coder/agent/reconnectingpty"
	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/coderd/servertailnet"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
)

// This file is the browser's way into a workspace: the web terminal (a
// websocket bridged to the agent's reconnecting-PTY service) and the ping
// behind the dashboard's connection badge, both through coderd's own
// tailnet node (package servertailnet).

// ptyDialTimeout bounds reaching the agent before the websocket upgrade.
const ptyDialTimeout = 30 * time.Second

// newServerTailnet builds coderd's tailnet node when the deployment has a
// tailnet whose coordinator runs in this process; nil otherwise (the
// terminal and ping then answer 503).
func newServerTailnet(opts Options) (*servertailnet.Server, error) {
	coord, ok := opts.Coordinator.(*tailnet.Coordinator)
	if !ok || opts.DERPMap == nil {
		return nil, nil
	}
	return servertailnet.New(servertailnet.Options{
		Coordinator: coord, DERPMap: opts.DERPMap, BlockEndpoints: opts.BlockDirect,
		DERPForceWebSockets: opts.DERPForceWebSockets, IdleTimeout: opts.AgentConnIdleTimeout,
		Logger: opts.Logger.With("component", "servertailnet"),
	})
}

// parsePTYQuery validates the terminal's query parameters.
func parsePTYQuery(r *http.Request) (reconnectingpty.Init, []codersdk.ValidationError) {
	q := r.URL.Query()
	var v httpapi.Validator
	var init reconnectingpty.Init
	if id, err := uuid.Parse(q.Get("reconnect")); err != nil {
		v.Add("reconnect", "must be a UUID naming the terminal")
	} else {
		init.ID = id.String()
	}
	size := func(field string) uint16 {
		n, err := strconv.Atoi(q.Get(field))
		if err != nil || n < 1 || n > codersdk.ReconnectingPTYMaxSize {
			v.Add(field, "must be an integer from 1 to %d", codersdk.ReconnectingPTYMaxSize)
			return 0
		}
		return uint16(n)
	}
	init.Width, init.Height = size("width"), size("height")
	init.Command = q.Get("command")
	v.Text("command", init.Command, codersdk.ReconnectingPTYMaxCommand)
	return init, v.Errors()
}

// authorizeAgentConnect answers 403 unless the caller may connect to the
// agent's workspace as the CLI would (SSH); callers who may not even read
// it got 404 from extractAgentParam.
func authorizeAgentConnect(w http.ResponseWriter, r *http.Request) bool {
	actor, _ := httpmw.ActorFrom(r.Context())
	if !rbac.Authorize(actor.Subject, rbac.ActionSSH, workspaceObject(userAgentParam(r).Workspace)) {
		httpapi.Forbidden(w)
		return false
	}
	return true
}

// writeAgentDialError turns a server tailnet failure into one answer.
func (api *API) writeAgentDialError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, servertailnet.ErrAgentNotConnected):
		httpapi.Error(w, http.StatusConflict, "The agent is not connected.",
			"Start the workspace, or wait for its agent to connect (the agent's status shows when it has).")
	case errors.Is(err, servertailnet.ErrClosed):
		httpapi.Error(w, http.StatusServiceUnavailable, "This server is shutting down.", "Try again in a moment.")
	case errors.Is(err, servertailnet.ErrAgentUnreachable), errors.Is(err, context.DeadlineExceeded):
		httpapi.Error(w, http.StatusGatewayTimeout, "The agent did not answer over the tailnet.", err.Error())
	case r.Context().Err() != nil:
		// The caller went away; nobody reads this answer.
	default:
		httpapi.InternalError(w, r, api.opts.Logger, "connect to agent", err)
	}
}

// workspaceAgentPTY serves the web terminal: after authorizing, validating
// the query and reaching the agent (so every refusal is a plain HTTP
// answer), it upgrades to a websocket and bridges it to a connection to the
// agent's reconnecting-PTY port until either side ends.
func (api *API) workspaceAgentPTY(w http.ResponseWriter, r *http.Request) {
	if !authorizeAgentConnect(w, r) {
		return
	}
	init, errs := parsePTYQuery(r)
	if len(errs) > 0 {
		httpapi.Validation(w, "Invalid query parameters.", errs)
		return
	}
	if api.serverTailnet == nil {
		httpapi.Error(w, http.StatusServiceUnavailable, "The tailnet is not running on this server.")
		return
	}
	agentID := userAgentParam(r).Agent.ID
	dialCtx, cancel := context.WithTimeout(r.Context(), ptyDialTimeout)
	nc, err := api.serverTailnet.Dial(dialCtx, agentID, agentconn.ReconnectingPTYPort)
	cancel()
	if err != nil {
		api.writeAgentDialError(w, r, err)
		return
	}
	defer nc.Close()
	if err := reconnectingpty.WriteInit(nc, init); err != nil {
		httpapi.Error(w, http.StatusBadGateway, "The agent dropped the terminal connection.", err.Error())
		return
	}
	// Default options: the browser's Origin must match the Host.
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(codersdk.ReconnectingPTYMaxMessage)
	ctx, done, ok := api.bridges.start()
	if !ok {
		_ = ws.Close(websocket.StatusGoingAway, "coderd is shutting down")
		return
	}
	defer done()
	stopActive := api.keepActive(ctx, userAgentParam(r).Workspace.ID)
	defer stopActive()
	bridgePTY(ctx, ws, nc, api.opts.Logger.With("agent_id", agentID))
}

// bridgePTY copies the agent's output to the browser (binary messages)
// and the browser's JSON messages to the agent until either side ends or
// ctx does. It returns after both directions have stopped.
func bridgePTY(ctx context.Context, ws *websocket.Conn, nc net.Conn, log *slog.Logger) {
	var browserGone atomic.Bool
	readDone := make(chan struct{})
	go func() { // browser -> agent
		defer close(readDone)
		defer nc.Close() // wakes the agent -> browser loop
		enc := json.NewEncoder(nc)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				browserGone.Store(true)
				return
			}
			var msg codersdk.ReconnectingPTYRequest
			if err := json.Unmarshal(data, &msg); err != nil {
				browserGone.Store(true)
				_ = ws.Close(websocket.StatusUnsupportedData, "messages are JSON objects {\"data\",\"height\",\"width\"}")
				return
			}
			out := reconnectingpty.ClientMessage{Data: msg.Data}
			if msg.Height > 0 && msg.Width > 0 && msg.Height <= codersdk.ReconnectingPTYMaxSize && msg.Width <= codersdk.ReconnectingPTYMaxSize {
				out.Height, out.Width = msg.Height, msg.Width
			}
			if out == (reconnectingpty.ClientMessage{}) {
				continue
			}
			if err := enc.Encode(out); err != nil {
				return // the agent side closed; the other loop reports it
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()

	buf := make([]byte, 32<<10)
	for {
		n, err := nc.Read(buf)
		if n > 0 {
			if werr := ws.Write(ctx, websocket.MessageBinary, buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	switch {
	case browserGone.Load():
		_ = ws.CloseNow()
	case ctx.Err() != nil:
		_ = ws.Close(websocket.StatusGoingAway, "coderd is shutting down")
	default:
		log.Debug("terminal connection ended by the agent")
		_ = ws.Close(websocket.StatusNormalClosure, "the terminal session ended")
	}
	_ = ws.CloseNow() // in case the handshake above failed: ends the reader
	<-readDone
}

// workspaceAgentPing measures a round trip from coderd to the agent.
func (api *API) workspaceAgentPing(w http.ResponseWriter, r *http.Request) {
	if !authorizeAgentConnect(w, r) {
		return
	}
	if api.serverTailnet == nil {
		httpapi.Error(w, http.StatusServiceUnavailable, "The tailnet is not running on this server.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), ptyDialTimeout)
	defer cancel()
	res, err := api.serverTailnet.Ping(ctx, userAgentParam(r).Agent.ID)
	if err != nil {
		api.writeAgentDialError(w, r, err)
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.WorkspaceAgentPing{
		LatencyMS: float64(res.Latency.Microseconds()) / 1000, P2P: res.Direct,
		DERPRegionID: res.DERPRegionID, DERPRegion: res.DERPRegionName,
	})
}

// bridgeGroup owns the running terminal bridges: close ends them and waits
// for them, so the API's Close returns with none left.
type bridgeGroup struct {
	mu     sync.Mutex
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// start registers a bridge; ok is false once closing. Call done when the
// bridge has returned.
func (g *bridgeGroup) start() (ctx context.Context, done func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, nil, false
	}
	if g.ctx == nil {
		g.ctx, g.cancel = context.WithCancel(context.Background())
	}
	g.wg.Add(1)
	return g.ctx, g.wg.Done, true
}

func (g *bridgeGroup) close() {
	g.mu.Lock()
	g.closed = true
	if g.cancel != nil {
		g.cancel()
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// closeServerTailnet ends every bridge, then coderd's tailnet node.
func (api *API) closeServerTailnet() error {
	api.bridges.close()
	if api.serverTailnet == nil {
		return nil
	}
	if err := api.serverTailnet.Close(); err != nil {
		return fmt.Errorf("close server tailnet: %w", err)
	}
	return nil
}
