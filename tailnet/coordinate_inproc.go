package tailnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/tailnet/proto"
)

// This file is coordination without a websocket, for a node that lives in
// the coordinator's own process (coderd's server node): an in-memory
// msgStream pair, and Tunnels, the node side of a peer that opens tunnels
// to many agents, added and removed on demand.

// errPipeClosed ends reads and writes on a closed in-memory stream.
var errPipeClosed = errors.New("in-process coordination stream closed")

// pipeStream is one end of an in-memory msgStream pair. Messages are passed
// by pointer and never copied deeply: a writer must not modify a message it
// has written (both sides only ever build fresh ones).
type pipeStream struct {
	in, out   chan any
	closed    chan struct{} // shared by both ends
	closeOnce *sync.Once
}

func newPipe() (a, b *pipeStream) {
	ab, ba := make(chan any), make(chan any)
	closed, once := make(chan struct{}), &sync.Once{}
	return &pipeStream{in: ba, out: ab, closed: closed, closeOnce: once},
		&pipeStream{in: ab, out: ba, closed: closed, closeOnce: once}
}

func (s *pipeStream) read(ctx context.Context, v any) error {
	select {
	case m := <-s.in:
		return assignMessage(v, m)
	case <-s.closed:
		return errPipeClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *pipeStream) write(ctx context.Context, v any) error {
	select {
	case s.out <- v:
		return nil
	case <-s.closed:
		return errPipeClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *pipeStream) close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// assignMessage stores the message m into v, as decoding it would.
func assignMessage(v, m any) error {
	switch dst := v.(type) {
	case *proto.CoordinateRequest:
		if src, ok := m.(*proto.CoordinateRequest); ok {
			*dst = *src
			return nil
		}
	case *proto.CoordinateResponse:
		if src, ok := m.(*proto.CoordinateResponse); ok {
			*dst = *src
			return nil
		}
	}
	return fmt.Errorf("in-process coordination: cannot read %T into %T", m, v)
}

// AgentConnected reports whether the agent id currently has a coordination
// connection (it may not have published its node yet).
// With a shared layer (SetShared), an agent connected through another
// replica counts too.
func (c *Coordinator) AgentConnected(id uuid.UUID) bool {
	c.mu.Lock()
	p, ok := c.peers[id]
	shared := c.shared
	c.mu.Unlock()
	if ok && p.agent {
		return true
	}
	return shared != nil && shared.AgentConnected(id)
}

// Tunnels coordinates one node living in the coordinator's process (coderd's
// own node) with any number of agents: AddTunnel and RemoveTunnel change
// the set of agents it exchanges nodes with, at any time. Unlike clients,
// this peer may tunnel to every agent: whoever asks it to connect
// somewhere (coderd's HTTP layer) has authorized that already.
//
// Concurrency: want is guarded by mu; the loop goroutine owns everything
// else, and Close joins it.
type Tunnels struct {
	coord *Coordinator
	tc    *Conn
	log   *slog.Logger

	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{} // capacity 1: the wanted set changed

	mu   sync.Mutex
	want map[uuid.UUID]struct{}
}

// NewTunnels starts coordinating tc (a client node: RandomClientPrefix
// addresses) through coord, in process, with no tunnels yet. The
// coordination is kept up (re-registered after the coordinator drops it)
// until Close or until the coordinator closes. Run nothing else that
// coordinates tc meanwhile.
func NewTunnels(coord *Coordinator, tc *Conn, log *slog.Logger) *Tunnels {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tunnels{
		coord: coord, tc: tc, log: log, cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1),
		want: make(map[uuid.UUID]struct{}),
	}
	go t.run(ctx)
	return t
}

// AddTunnel asks for agent's node (and gives it ours). It does not wait;
// the agent becomes a peer of tc once the coordinator relays its node.
func (t *Tunnels) AddTunnel(agent uuid.UUID) {
	t.mu.Lock()
	t.want[agent] = struct{}{}
	t.mu.Unlock()
	t.signal()
}

// RemoveTunnel ends the exchange with agent; the coordinator then tells
// both sides to forget each other.
func (t *Tunnels) RemoveTunnel(agent uuid.UUID) {
	t.mu.Lock()
	delete(t.want, agent)
	t.mu.Unlock()
	t.signal()
}

func (t *Tunnels) signal() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// Close says goodbye to the coordinator (the agents see "disconnected")
// and stops the loop. Idempotent. It does not close tc.
func (t *Tunnels) Close() error {
	t.cancel()
	<-t.done
	return nil
}

func (t *Tunnels) run(ctx context.Context) {
	defer close(t.done)
	bo := backoff.New(50*time.Millisecond, 5*time.Second)
	for {
		err := t.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, ErrCoordinatorClosed) || errors.Is(err, ErrClosed) {
			t.log.Debug("in-process coordination ended", "error", err)
			return
		}
		t.log.Warn("in-process coordination lost; registering again", "error", err)
		if !bo.Wait(ctx) {
			return
		}
	}
}

// session registers tc with the coordinator once and runs until ctx ends
// (nil, after the goodbye) or the coordination fails.
func (t *Tunnels) session(ctx context.Context) error {
	nodeEnd, coordEnd := newPipe()
	defer nodeEnd.close()
	// The coordinator side lives exactly as long as this session: it ends
	// when the pipe closes.
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- t.coord.serve(context.Background(), coordEnd, &coordPeer{
			id:        t.tc.id,
			authorise: func(uuid.UUID) bool { return true },
		})
	}()
	finish := func(err error) error {
		_ = nodeEnd.close()
		if sErr := <-serveErr; errors.Is(sErr, ErrCoordinatorClosed) {
			return sErr
		}
		return err
	}

	t.tc.setCoordinated(true)
	defer t.tc.setCoordinated(false)
	nodes, stopNodes := watchNode(t.tc)
	defer stopNodes()

	streamCtx, streamCancel := context.WithCancel(context.Background())
	defer streamCancel()
	readErr := make(chan error, 1)
	go func() { readErr <- readResponses(streamCtx, nodeEnd, t.tc) }()
	stop := func(err error) error {
		streamCancel()
		<-readErr
		return finish(err)
	}

	sent := make(map[uuid.UUID]struct{})
	t.signal() // (re)send every wanted tunnel
	for {
		select {
		case <-ctx.Done():
			byeCtx, byeCancel := context.WithTimeout(streamCtx, disconnectTimeout)
			_ = nodeEnd.write(byeCtx, &proto.CoordinateRequest{Disconnect: true})
			byeCancel()
			return stop(nil)
		case err := <-readErr:
			readErr <- err // for stop
			return stop(err)
		case n := <-nodes:
			if err := nodeEnd.write(streamCtx, &proto.CoordinateRequest{UpdateSelf: n}); err != nil {
				return stop(fmt.Errorf("coordinate: send node: %w", err))
			}
		case <-t.wake:
			if err := t.syncTunnels(streamCtx, nodeEnd, sent); err != nil {
				return stop(err)
			}
		}
	}
}

// watchNode delivers tc's node changes to one reader. The node callback
// must not block (it runs on tc's publisher), so only the latest node is
// kept for a reader that falls behind. stop ends the delivery.
func watchNode(tc *Conn) (nodes <-chan *proto.Node, stop func()) {
	ch := make(chan *proto.Node, 1)
	tc.SetNodeCallback(func(n *proto.Node) {
		select {
		case <-ch:
		default:
		}
		ch <- n
	})
	return ch, func() { tc.SetNodeCallback(nil) }
}

// syncTunnels sends the AddTunnel and RemoveTunnel requests that turn sent
// into the wanted set.
func (t *Tunnels) syncTunnels(ctx context.Context, s msgStream, sent map[uuid.UUID]struct{}) error {
	t.mu.Lock()
	var add, remove []uuid.UUID
	for id := range t.want {
		if _, ok := sent[id]; !ok {
			add = append(add, id)
		}
	}
	for id := range sent {
		if _, ok := t.want[id]; !ok {
			remove = append(remove, id)
		}
	}
	t.mu.Unlock()
	for _, id := range add {
		if err := s.write(ctx, &proto.CoordinateRequest{AddTunnel: &id}); err != nil {
			return fmt.Errorf("coordinate: add tunnel: %w", err)
		}
		sent[id] = struct{}{}
	}
	for _, id := range remove {
		if err := s.write(ctx, &proto.CoordinateRequest{RemoveTunnel: &id}); err != nil {
			return fmt.Errorf("coordinate: remove tunnel: %w", err)
		}
		delete(sent, id)
	}
	return nil
}
