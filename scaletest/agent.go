package scaletest

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/tailnet/proto"
)

// defaultStatsInterval is agent.statsLoop's interval until coderd answers
// with its own (coderd says 30 s too).
const defaultStatsInterval = 30 * time.Second

// Agent is one simulated agent: its client (the agent token as session
// token) and, once started, its coordination websocket. It runs on at most
// two goroutines (Run and the websocket reader), and shares its HTTP
// transport with the fleet: a real agent has a connection of its own, but
// the simulator's machine cannot afford thousands of idle ones, and coderd
// does per request what matters here (token lookup, queries).
type Agent struct {
	client *codersdk.Client
	rec    *Recorder

	// ID is the agent's ID, from its manifest (zero before Start).
	ID uuid.UUID

	mu   sync.Mutex
	ws   *websocket.Conn // nil while reconnecting
	node *proto.Node     // the node last published

	// Drops counts coordination websockets that ended while the agent
	// was running (each is redialled, as agent.Agent does).
	Drops atomic.Int64
	// PeerUpdates counts updates about peers (clients) received.
	PeerUpdates atomic.Int64
}

// NewAgent returns an agent of the deployment at base that authenticates
// with token and sends its requests through hc.
func NewAgent(base *url.URL, hc *http.Client, token string, rec *Recorder) *Agent {
	c := codersdk.New(base)
	c.HTTPClient = hc
	c.SetSessionToken(token)
	return &Agent{client: c, rec: rec}
}

// NewHTTPClient is the fleet's shared HTTP client: enough idle connections
// per replica that steady-state requests reuse them instead of opening a
// TCP connection each (which would measure the machine's TIME_WAIT churn,
// not coderd).
func NewHTTPClient(idlePerHost int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 0
	tr.MaxIdleConnsPerHost = idlePerHost
	tr.IdleConnTimeout = 5 * time.Minute
	return &http.Client{Transport: tr}
}

// timed runs one agent API request and records its latency.
func (a *Agent) timed(fn func() error) error {
	start := time.Now()
	err := fn()
	a.rec.Add(time.Since(start), err)
	return err
}

// Start does what agent.Agent.Run does before it serves: fetch the
// manifest, report startup and the lifecycle (starting, then ready: the
// simulated agent has no scripts), then dial the coordinator and publish
// its node. Failures are returned, not retried: the fleet reports them.
func (a *Agent) Start(ctx context.Context) error {
	var m codersdk.AgentManifest
	if err := a.timed(func() (err error) { m, err = a.client.AgentManifest(ctx); return err }); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	a.ID = m.AgentID
	if err := a.timed(func() error {
		return a.client.PostStartup(ctx, codersdk.PostStartupRequest{Version: buildinfo.Version(), ExpandedDirectory: "/home/coder", Subsystems: []string{}})
	}); err != nil {
		return fmt.Errorf("startup: %w", err)
	}
	for _, s := range []codersdk.WorkspaceAgentLifecycle{codersdk.WorkspaceAgentLifecycleStarting, codersdk.WorkspaceAgentLifecycleReady} {
		if err := a.timed(func() error {
			return a.client.PostLifecycle(ctx, codersdk.PostLifecycleRequest{State: s, ChangedAt: time.Now()})
		}); err != nil {
			return fmt.Errorf("lifecycle %s: %w", s, err)
		}
	}
	a.mu.Lock()
	a.node = fakeNode(tailnet.AgentIP(a.ID))
	a.mu.Unlock()
	return a.dial(ctx)
}

// dial opens the coordination websocket and publishes the agent's node.
func (a *Agent) dial(ctx context.Context) error {
	ws, err := a.client.DialAgentCoordinator(ctx)
	if err != nil {
		return fmt.Errorf("dial coordinator: %w", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := wsjson.Write(ctx, ws, &proto.CoordinateRequest{UpdateSelf: a.node}); err != nil {
		_ = ws.CloseNow()
		return fmt.Errorf("publish node: %w", err)
	}
	a.ws = ws
	return nil
}

// PublishNode sends the agent's node again, stamped asOf (a real agent
// does when its endpoints or DERP latencies change).
func (a *Agent) PublishNode(ctx context.Context, asOf time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ws == nil {
		return errors.New("coordinator not connected")
	}
	n := *a.node
	n.AsOf = asOf
	a.node = &n
	return wsjson.Write(ctx, a.ws, &proto.CoordinateRequest{UpdateSelf: &n})
}

// Run keeps a started agent alive until ctx ends: it reports stats at the
// interval coderd asks for (the first after firstStats, so a fleet's
// reports spread over the interval as real agents' start times do), and
// reads the coordinator's updates on a second goroutine, redialling when
// the websocket drops. It returns once both have stopped.
func (a *Agent) Run(ctx context.Context, firstStats time.Duration) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.coordinate(ctx)
	}()
	defer wg.Wait()
	defer a.closeWS() // ends the reader if it is blocked in a read

	interval := firstStats
	for {
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		interval = defaultStatsInterval
		var resp codersdk.AgentStatsResponse
		err := a.timed(func() (err error) {
			resp, err = a.client.PostStats(ctx, codersdk.AgentStats{SessionCountByType: map[string]int64{}})
			return err
		})
		if ctx.Err() != nil {
			return
		}
		if err == nil && resp.ReportIntervalSeconds > 0 {
			interval = time.Duration(resp.ReportIntervalSeconds) * time.Second
		}
	}
}

func (a *Agent) closeWS() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ws != nil {
		_ = a.ws.CloseNow()
	}
}

// coordinate reads the websocket until ctx ends; a dropped one is
// redialled after a second.
func (a *Agent) coordinate(ctx context.Context) {
	for {
		a.mu.Lock()
		ws := a.ws
		a.mu.Unlock()
		if ws != nil {
			for {
				var resp proto.CoordinateResponse
				if err := wsjson.Read(ctx, ws, &resp); err != nil {
					break
				}
				a.PeerUpdates.Add(int64(len(resp.PeerUpdates)))
			}
			_ = ws.CloseNow()
			a.mu.Lock()
			if a.ws == ws {
				a.ws = nil
			}
			a.mu.Unlock()
			if ctx.Err() != nil {
				return
			}
			a.Drops.Add(1)
		}
		t := time.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		_ = a.dial(ctx) // on failure, try again in a second
	}
}

// fakeNode is a node as a tailnet.Conn would publish it, with random keys
// (nothing ever dials it) and one made-up endpoint.
func fakeNode(addr netip.Addr) *proto.Node {
	return &proto.Node{
		Key:           "nodekey:" + randHex(32),
		DiscoKey:      "discokey:" + randHex(32),
		PreferredDERP: tailnet.EmbeddedRegionID,
		DERPLatency:   map[string]float64{fmt.Sprintf("%d-v4", tailnet.EmbeddedRegionID): 0.001},
		Addresses:     []netip.Prefix{netip.PrefixFrom(addr, 128)},
		AllowedIPs:    []netip.Prefix{netip.PrefixFrom(addr, 128)},
		Endpoints:     []string{"127.0.0.1:41641"},
		AsOf:          time.Now(),
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = cryptorand.Read(b)
	return hex.EncodeToString(b)
}

// Jitter is a uniformly random duration in [0, d).
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d)))
}
