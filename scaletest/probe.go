package scaletest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/tailnet/proto"
)

// Probe times node updates from one agent to a client coordinating
// through another replica: the agent publishes a node stamped now, the
// client's coordinator connection delivers it, and the difference is the
// coordination latency a user sees when an agent's node changes (the
// agent's replica writes and notifies through PostgreSQL, the client's
// replica reads and delivers).
type Probe struct {
	agent *Agent
	ws    *websocket.Conn
	got   chan received // each agent node the client received
	done  chan struct{}
}

// received is a node the client got: its stamp and when it arrived.
type received struct{ asOf, at time.Time }

// NewProbe connects a client of user (a session on the other replica) to
// agent's coordination, publishes the client's node, asks for a tunnel to
// the agent and waits for the agent's current node. Close it when done.
func NewProbe(ctx context.Context, user *codersdk.Client, agent *Agent) (*Probe, error) {
	ws, err := user.DialWorkspaceAgentCoordinator(ctx, agent.ID)
	if err != nil {
		return nil, fmt.Errorf("dial client coordinator: %w", err)
	}
	p := &Probe{agent: agent, ws: ws, got: make(chan received, 16), done: make(chan struct{})}
	id := agent.ID
	for _, req := range []*proto.CoordinateRequest{{UpdateSelf: fakeNode(tailnet.RandomClientIP())}, {AddTunnel: &id}} {
		if err := wsjson.Write(ctx, ws, req); err != nil {
			_ = ws.CloseNow()
			return nil, fmt.Errorf("coordinate: %w", err)
		}
	}
	go p.read()
	select {
	case <-p.got: // the agent's node: the tunnel is up
		return p, nil
	case <-p.done:
		return nil, errors.New("the coordinator closed the probe's connection")
	case <-ctx.Done():
		p.Close()
		return nil, fmt.Errorf("wait for the agent's node: %w", ctx.Err())
	}
}

// read forwards every node of the agent until the websocket
// ends (Close).
func (p *Probe) read() {
	defer close(p.done)
	for {
		var resp proto.CoordinateResponse
		if err := wsjson.Read(context.Background(), p.ws, &resp); err != nil {
			return
		}
		for _, u := range resp.PeerUpdates {
			if u.Kind == proto.PeerNode && u.Node != nil && u.ID == p.agent.ID {
				select {
				case p.got <- received{asOf: u.Node.AsOf, at: time.Now()}:
				default: // nobody waiting for an old one
				}
			}
		}
	}
}

// Measure has the agent publish a new node and returns how long the
// client took to receive it.
func (p *Probe) Measure(ctx context.Context) (time.Duration, error) {
	for drained := false; !drained; { // stale deliveries
		select {
		case <-p.got:
		default:
			drained = true
		}
	}
	asOf := time.Now()
	if err := p.agent.PublishNode(ctx, asOf); err != nil {
		return 0, fmt.Errorf("publish: %w", err)
	}
	for {
		select {
		case r := <-p.got:
			if r.asOf.Equal(asOf) {
				return r.at.Sub(asOf), nil
			}
		case <-p.done:
			return 0, errors.New("the client's coordination ended")
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Close ends the client's connection and waits for its reader.
func (p *Probe) Close() {
	_ = p.ws.CloseNow()
	<-p.done
}
