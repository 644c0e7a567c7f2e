package tailnet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/opencoder/coder/tailnet/proto"
)

// This file is the transport of coordination: one websocket per node,
// carrying one JSON message per websocket message (proto.CoordinateRequest
// from the node, proto.CoordinateResponse from coderd). The coordinator core
// only sees msgStream, so tests and benchmarks can run it in memory.

// maxMessageSize bounds one coordination message (a node is ~1 KiB).
const maxMessageSize = 1 << 20

// disconnectTimeout bounds the goodbye sent when a node leaves on purpose.
const disconnectTimeout = 2 * time.Second

// heartbeatInterval is how often each side pings the other, so a connection
// that died silently (no FIN) is noticed, and its peers told "lost", within
// about twice this.
const heartbeatInterval = 15 * time.Second

// msgStream is one coordination connection.
type msgStream interface {
	read(ctx context.Context, v any) error
	write(ctx context.Context, v any) error
	close() error
}

type wsStream struct{ conn *websocket.Conn }

func newWSStream(conn *websocket.Conn) *wsStream {
	conn.SetReadLimit(maxMessageSize)
	return &wsStream{conn: conn}
}

func (s *wsStream) read(ctx context.Context, v any) error  { return wsjson.Read(ctx, s.conn, v) }
func (s *wsStream) write(ctx context.Context, v any) error { return wsjson.Write(ctx, s.conn, v) }
func (s *wsStream) close() error                           { return s.conn.Close(websocket.StatusNormalClosure, "") }

// ServeAgent coordinates the agent agentID over conn (already authenticated
// by coderd with the agent's token) until the agent leaves, ctx ends or the
// coordinator closes. It closes conn.
func (c *Coordinator) ServeAgent(ctx context.Context, conn *websocket.Conn, agentID uuid.UUID) error {
	return c.serveWebSocket(ctx, conn, &coordPeer{id: agentID, agent: true})
}

// ServeClient coordinates the client clientID over conn. coderd has decided
// the client may reach agentID; the coordinator refuses tunnels to any other
// peer with ErrorNotAuthorised. It closes conn.
func (c *Coordinator) ServeClient(ctx context.Context, conn *websocket.Conn, clientID, agentID uuid.UUID) error {
	return c.serveWebSocket(ctx, conn, &coordPeer{
		id:        clientID,
		authorise: func(id uuid.UUID) bool { return id == agentID },
	})
}

func (c *Coordinator) serveWebSocket(ctx context.Context, conn *websocket.Conn, p *coordPeer) error {
	ctx, cancel := context.WithCancel(ctx)
	hb := startHeartbeat(ctx, conn)
	defer hb.stop(cancel)
	return c.serve(ctx, newWSStream(conn), p)
}

// heartbeat pings a websocket until its context ends, and closes the
// connection when a ping goes unanswered. Pings are answered by the peer's
// reader, which both sides always run.
type heartbeat struct{ done chan struct{} }

func startHeartbeat(ctx context.Context, conn *websocket.Conn) *heartbeat {
	hb := &heartbeat{done: make(chan struct{})}
	go func() {
		defer close(hb.done)
		t := time.NewTicker(heartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pingCtx, cancel := context.WithTimeout(ctx, heartbeatInterval)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				if ctx.Err() == nil { // not just us shutting down
					_ = conn.Close(websocket.StatusGoingAway, "heartbeat timeout")
				}
				return
			}
		}
	}()
	return hb
}

// stop cancels the heartbeat's context (with cancel) and joins it.
func (hb *heartbeat) stop(cancel context.CancelFunc) {
	cancel()
	<-hb.done
}

// serve runs one peer's connection: a reader applying requests (this
// goroutine) and a writer draining the peer's queue.
func (c *Coordinator) serve(ctx context.Context, s msgStream, p *coordPeer) error {
	defer s.close()
	p.resps = make(chan *proto.CoordinateResponse, respQueueSize)
	p.done = make(chan struct{})
	if err := c.register(p); err != nil {
		return fmt.Errorf("serve coordination: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		defer cancel() // a dead writer ends the reader too
		for {
			select {
			case <-ctx.Done():
				return
			case <-p.done:
				return
			case resp := <-p.resps:
				if err := s.write(ctx, resp); err != nil {
					return
				}
			}
		}
	}()

	graceful, err := c.readLoop(ctx, s, p)
	cancel()
	<-writerDone
	c.leave(p, graceful)
	if graceful || ctx.Err() != nil {
		return nil
	}
	return err
}

func (c *Coordinator) readLoop(ctx context.Context, s msgStream, p *coordPeer) (graceful bool, _ error) {
	for {
		var req proto.CoordinateRequest
		if err := s.read(ctx, &req); err != nil {
			return false, fmt.Errorf("read coordinate request: %w", err)
		}
		if err := c.handle(p, &req); err != nil {
			code := proto.ErrorInvalidRequest
			if errors.Is(err, ErrNotAuthorised) {
				code = proto.ErrorNotAuthorised
			}
			c.log.Info("refused coordinate request", "peer", p.id, "error", err)
			select {
			case p.resps <- &proto.CoordinateResponse{Error: err.Error(), ErrorCode: code}:
			default: // the peer is too slow and is being dropped anyway
			}
		}
		if req.Disconnect {
			return true, nil
		}
	}
}

// Coordinate is the node side of coordination, used by agents (agentID nil)
// and clients (agentID: the agent to tunnel to). It publishes tc's node on
// every change and applies the peer updates it receives, until ctx ends
// (then it says goodbye and returns nil) or the connection fails (it returns
// the error; the caller reconnects with a new conn). Peers stay configured
// meanwhile: the data path does not need the coordinator once set up. It
// closes conn. Run at most one Coordinate per Conn at a time.
func Coordinate(ctx context.Context, conn *websocket.Conn, tc *Conn, agentID *uuid.UUID) error {
	hbCtx, cancel := context.WithCancel(ctx)
	hb := startHeartbeat(hbCtx, conn)
	defer hb.stop(cancel)
	return coordinate(ctx, newWSStream(conn), tc, agentID)
}

func coordinate(ctx context.Context, s msgStream, tc *Conn, agentID *uuid.UUID) error {
	defer s.close()
	// The stream outlives ctx by the goodbye: cancelling a websocket read
	// or write closes the connection, so I/O uses its own context, ended
	// only when we are done.
	streamCtx, streamCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer streamCancel()

	if agentID != nil {
		id := *agentID
		if err := s.write(streamCtx, &proto.CoordinateRequest{AddTunnel: &id}); err != nil {
			return fmt.Errorf("coordinate: add tunnel: %w", err)
		}
	}
	tc.setCoordinated(true)
	defer tc.setCoordinated(false)

	nodes, stopNodes := watchNode(tc)
	defer stopNodes()

	readErr := make(chan error, 1)
	go func() { readErr <- readResponses(streamCtx, s, tc) }()
	for {
		select {
		case <-ctx.Done():
			// Leaving on purpose: tell the peers so, rather than "lost".
			byeCtx, byeCancel := context.WithTimeout(streamCtx, disconnectTimeout)
			_ = s.write(byeCtx, &proto.CoordinateRequest{Disconnect: true})
			byeCancel()
			streamCancel()
			<-readErr
			return nil
		case err := <-readErr:
			return err
		case n := <-nodes:
			if err := s.write(streamCtx, &proto.CoordinateRequest{UpdateSelf: n}); err != nil {
				streamCancel()
				<-readErr
				return fmt.Errorf("coordinate: send node: %w", err)
			}
		}
	}
}

// readResponses applies peer updates until the stream fails or the
// coordinator refuses something.
func readResponses(ctx context.Context, s msgStream, tc *Conn) error {
	for {
		var resp proto.CoordinateResponse
		if err := s.read(ctx, &resp); err != nil {
			return fmt.Errorf("coordinate: read: %w", err)
		}
		if resp.Error != "" {
			if resp.ErrorCode == proto.ErrorNotAuthorised {
				return fmt.Errorf("coordinate: %s: %w", resp.Error, ErrNotAuthorised)
			}
			return fmt.Errorf("coordinate: coordinator refused a request: %s", resp.Error)
		}
		if len(resp.PeerUpdates) == 0 {
			continue
		}
		if err := tc.UpdatePeers(resp.PeerUpdates); err != nil {
			if errors.Is(err, ErrClosed) {
				return err
			}
			tc.log.Warn("apply peer updates", "error", err)
		}
	}
}
