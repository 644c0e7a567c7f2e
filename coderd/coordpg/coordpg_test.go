package coordpg

import (
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/tailnet/proto"
	"github.com/opencoder/coder/testutil"
)

// TestCrossReplica: an agent on A and a client on B exchange nodes through
// the database, follow each other's updates, and the agent hears how the
// client left (goodbye, lost connection, tunnel removed).
func TestCrossReplica(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	a, b := newReplica(t, "a", dbURL), newReplica(t, "b", dbURL)
	agentID := uuid.New()
	agent := a.agent(ctx, agentID)
	agentNode := agent.publishAgent(ctx)
	eventually(ctx, t, "B sees the agent connected", func() bool { return b.core.AgentConnected(agentID) })

	connect := func() (*peer, *proto.Node) {
		client := b.client(ctx, agentID)
		clientNode := client.publishClient(ctx, tailnet.RandomClientIP())
		client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
		client.expectNode(ctx, agentID, agentNode)
		agent.expectNode(ctx, client.id, clientNode)
		return client, clientNode
	}

	t.Run("updates", func(t *testing.T) {
		client, _ := connect()
		agentNode = agent.publishAgent(ctx)
		client.expectNode(ctx, agentID, agentNode)
		clientNode := client.publishClient(ctx, tailnet.RandomClientIP())
		agent.expectNode(ctx, client.id, clientNode)
		client.send(ctx, &proto.CoordinateRequest{Disconnect: true})
		agent.expectKind(ctx, client.id, proto.PeerDisconnected)
	})
	t.Run("client lost", func(t *testing.T) {
		client, _ := connect()
		require.NoError(t, client.conn.CloseNow())
		agent.expectKind(ctx, client.id, proto.PeerLost)
	})
	t.Run("tunnel removed", func(t *testing.T) {
		client, _ := connect()
		client.send(ctx, &proto.CoordinateRequest{RemoveTunnel: &agentID})
		client.expectKind(ctx, agentID, proto.PeerDisconnected)
		agent.expectKind(ctx, client.id, proto.PeerDisconnected)
	})
	t.Run("same replica stays local", func(t *testing.T) {
		// A client on A is served by A's core alone; the shared layer
		// must not add a second copy of the agent's node.
		client := a.client(ctx, agentID)
		clientNode := client.publishClient(ctx, tailnet.RandomClientIP())
		client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
		client.expectNode(ctx, agentID, agentNode)
		agent.expectNode(ctx, client.id, clientNode)
		agentNode = agent.publishAgent(ctx)
		client.expectNode(ctx, agentID, agentNode)
		client.send(ctx, &proto.CoordinateRequest{Disconnect: true})
		agent.expectKind(ctx, client.id, proto.PeerDisconnected)
	})
}

// TestAgentMoves: the agent's connection to A drops and it reconnects
// through C; the client on B keeps its tunnel and gets the new node.
func TestAgentMoves(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	a, b, c := newReplica(t, "a", dbURL), newReplica(t, "b", dbURL), newReplica(t, "c", dbURL)
	agentID := uuid.New()
	agent := a.agent(ctx, agentID)
	agentNode := agent.publishAgent(ctx)

	client := b.client(ctx, agentID)
	clientNode := client.publishClient(ctx, tailnet.RandomClientIP())
	client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
	client.expectNode(ctx, agentID, agentNode)
	agent.expectNode(ctx, client.id, clientNode)

	require.NoError(t, agent.conn.CloseNow())
	client.expectKind(ctx, agentID, proto.PeerLost)

	agent = c.agent(ctx, agentID)
	agentNode = agent.publishAgent(ctx)
	client.expectNode(ctx, agentID, agentNode)
	agent.expectNode(ctx, client.id, clientNode) // the tunnel survived

	// And back to A, where the client is remote again; with the agent
	// connected on C and A at once for a moment, the newest wins.
	agent2 := a.agent(ctx, agentID)
	agentNode = agent2.publishAgent(ctx)
	client.expectNode(ctx, agentID, agentNode)
	agent2.expectNode(ctx, client.id, clientNode)
}

// TestDeadCoordinator: A stops heartbeating without cleaning up (a crash).
// B's client is told its agent is lost once, A's rows are cleaned up, and
// the agent coming back through C reaches the client.
func TestDeadCoordinator(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	a, b, c := newReplica(t, "a", dbURL), newReplica(t, "b", dbURL), newReplica(t, "c", dbURL)
	agentID := uuid.New()
	agent := a.agent(ctx, agentID)
	agentNode := agent.publishAgent(ctx)
	client := b.client(ctx, agentID)
	clientNode := client.publishClient(ctx, tailnet.RandomClientIP())
	client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
	client.expectNode(ctx, agentID, agentNode)
	agent.expectNode(ctx, client.id, clientNode)
	// A client of A tunnelling to an agent on B: its tunnel row goes too.
	agentB := uuid.New()
	b.agent(ctx, agentB).publishAgent(ctx)
	clientA := a.client(ctx, agentB)
	clientA.publishClient(ctx, tailnet.RandomClientIP())
	clientA.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentB})
	clientA.update(ctx)

	deadID := a.shared.ID()
	require.NoError(t, a.shared.stop(false))
	agent.expectClosed(ctx)

	client.expectKind(ctx, agentID, proto.PeerLost)
	eventually(ctx, t, "A's rows cleaned up", func() bool {
		ok, _, tunnels, err := b.store.TailnetRowCounts(ctx, deadID)
		require.NoError(t, err)
		var n int
		require.NoError(t, b.store.Pool().QueryRow(ctx, `SELECT count(*) FROM tailnet_coordinators WHERE id = $1`, deadID).Scan(&n))
		return ok == 0 && tunnels == 0 && n == 0
	})
	require.False(t, b.core.AgentConnected(agentID))

	// The next thing the client hears is the agent's new node: "lost"
	// came once.
	agent = c.agent(ctx, agentID)
	agentNode = agent.publishAgent(ctx)
	client.expectNode(ctx, agentID, agentNode)
	agent.expectNode(ctx, client.id, clientNode)
}

// TestDatabaseCut: when A cannot reach PostgreSQL it disconnects its peers
// and refuses new ones; B's client is told the agent is lost; once the
// database is back, A serves again.
func TestDatabaseCut(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := testutil.NewCutProxy(t, u.Host)
	u.Host = proxy.Addr()
	a, b := newReplica(t, "a", u.String()), newReplica(t, "b", dbURL)
	agentID := uuid.New()
	agent := a.agent(ctx, agentID)
	agentNode := agent.publishAgent(ctx)
	client := b.client(ctx, agentID)
	clientNode := client.publishClient(ctx, tailnet.RandomClientIP())
	client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
	client.expectNode(ctx, agentID, agentNode)
	agent.expectNode(ctx, client.id, clientNode)

	proxy.SetCut(true)
	agent.expectClosed(ctx)
	require.True(t, a.core.Suspended())
	require.False(t, a.shared.Healthy())
	refused := a.agent(ctx, agentID)
	refused.expectClosed(ctx)
	client.expectKind(ctx, agentID, proto.PeerLost)

	proxy.SetCut(false)
	eventually(ctx, t, "A serves again", func() bool { return a.shared.Healthy() && !a.core.Suspended() })
	agent = a.agent(ctx, agentID)
	agentNode = agent.publishAgent(ctx)
	client.expectNode(ctx, agentID, agentNode)
	agent.expectNode(ctx, client.id, clientNode)
}

// TestCloseCleansUp: a clean shutdown removes the coordinator's rows at
// once and its remote partners hear "lost".
func TestCloseCleansUp(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	a, b := newReplica(t, "a", dbURL), newReplica(t, "b", dbURL)
	agentID := uuid.New()
	agent := a.agent(ctx, agentID)
	agentNode := agent.publishAgent(ctx)
	client := b.client(ctx, agentID)
	client.publishClient(ctx, tailnet.RandomClientIP())
	client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
	client.expectNode(ctx, agentID, agentNode)

	id := a.shared.ID()
	require.NoError(t, a.shared.Close())
	agent.expectClosed(ctx)
	client.expectKind(ctx, agentID, proto.PeerLost)
	ok, _, tunnels, err := b.store.TailnetRowCounts(ctx, id)
	require.NoError(t, err)
	require.Zero(t, ok)
	require.Zero(t, tunnels)
}

func TestParsePayload(t *testing.T) {
	t.Parallel()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	for _, tc := range []struct {
		in   string
		kind string
		n    int
	}{
		{peerPayload(a, b), "p", 2},
		{tunnelPayload(a, tunnelKey{b, c}), "t", 3},
		{deadPayload(a), "d", 1},
		{"", "", -1},
		{"p " + a.String(), "", -1},
		{"x " + a.String(), "", -1},
		{"d nope", "", -1},
	} {
		kind, ids, ok := parsePayload(tc.in)
		if tc.n < 0 {
			require.False(t, ok, tc.in)
			continue
		}
		require.True(t, ok, tc.in)
		require.Equal(t, tc.kind, kind)
		require.Len(t, ids, tc.n)
	}
}

// TestDeadCleanedOnce: replicas racing to clean up a dead coordinator
// remove it once between them, and its peers end up lost, not deleted.
func TestDeadCleanedOnce(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	stores := make([]*database.Store, 3)
	for i := range stores {
		s, err := database.Open(ctx, dbURL)
		require.NoError(t, err)
		t.Cleanup(s.Close)
		stores[i] = s
	}
	dead, peerID := uuid.New(), uuid.New()
	require.NoError(t, stores[0].RegisterTailnetCoordinator(ctx, dead))
	alive, err := stores[0].ApplyTailnetChanges(ctx, dead, database.TailnetChanges{
		Upsert:     []database.TailnetPeerState{{ID: peerID, IsAgent: true, Node: []byte(`{}`)}},
		AddTunnels: []database.TailnetTunnel{{SrcID: uuid.New(), DstID: uuid.New()}},
	})
	require.NoError(t, err)
	require.True(t, alive)
	_, err = stores[0].Pool().Exec(ctx, `UPDATE tailnet_coordinators SET heartbeat_at = now() - interval '1 hour' WHERE id = $1`, dead)
	require.NoError(t, err)

	var (
		mu      sync.Mutex
		removed []uuid.UUID
		wg      sync.WaitGroup
	)
	for _, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := s.DeleteDeadTailnetCoordinators(ctx, time.Minute, deadPayload)
			assert.NoError(t, err)
			mu.Lock()
			removed = append(removed, ids...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, []uuid.UUID{dead}, removed)
	ok, lost, tunnels, err := stores[0].TailnetRowCounts(ctx, dead)
	require.NoError(t, err)
	require.Equal(t, [3]int{0, 1, 0}, [3]int{ok, lost, tunnels})
	// A write from the dead coordinator, arriving late, is refused.
	alive, err = stores[0].ApplyTailnetChanges(ctx, dead, database.TailnetChanges{Gone: []uuid.UUID{peerID}})
	require.NoError(t, err)
	require.False(t, alive)
}

// TestMetrics: the coordinator exports its peers, health and traffic.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dbURL := dbtestutil.NewDB(t)
	a, b := newReplica(t, "a", dbURL), newReplica(t, "b", dbURL)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(b.shared))
	agentID := uuid.New()
	agent := a.agent(ctx, agentID)
	agentNode := agent.publishAgent(ctx)
	client := b.client(ctx, agentID)
	client.publishClient(ctx, tailnet.RandomClientIP())
	client.send(ctx, &proto.CoordinateRequest{AddTunnel: &agentID})
	client.expectNode(ctx, agentID, agentNode)

	values := func() map[string]float64 {
		families, err := reg.Gather()
		require.NoError(t, err)
		out := map[string]float64{}
		for _, f := range families {
			for _, m := range f.GetMetric() {
				name := f.GetName()
				for _, l := range m.GetLabel() {
					name += "{" + l.GetName() + "=" + l.GetValue() + "}"
				}
				switch {
				case m.GetGauge() != nil:
					out[name] = m.GetGauge().GetValue()
				case m.GetCounter() != nil:
					out[name] = m.GetCounter().GetValue()
				case m.GetHistogram() != nil:
					out[name+"_count"] = float64(m.GetHistogram().GetSampleCount())
				}
			}
		}
		return out
	}
	// Counted just after the fact: the client may have read the node first.
	eventually(ctx, t, "B's writes and deliveries counted", func() bool {
		v := values()
		return v["coderd_tailnet_coordinator_writes_total{success=true}"] > 0 && v["coderd_tailnet_coordinator_remote_updates_total"] > 0
	})
	v := values()
	require.Equal(t, 1.0, v["coderd_tailnet_coordinator_healthy"])
	require.Equal(t, 1.0, v["coderd_tailnet_coordinator_peers{type=client}"])
	require.Equal(t, 0.0, v["coderd_tailnet_coordinator_peers{type=agent}"])
	require.Equal(t, 1.0, v["coderd_tailnet_coordinator_remote_peers"])
	require.Positive(t, v["coderd_tailnet_coordinator_write_seconds_count"])
}
