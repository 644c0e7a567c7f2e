package tailnet

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/disco"
	"tailscale.com/net/netmon"
	"tailscale.com/types/key"

	"github.com/opencoder/coder/testutil"
)

// meshReplica is one replica's DERP server on a real loopback HTTP server.
type meshReplica struct {
	srv   *DERPServer
	relay string // the relay address: scheme and host
}

func newMeshReplica(t *testing.T, meshKey string) meshReplica {
	t.Helper()
	srv := NewDERPServer(testutil.Logger(t))
	if meshKey != "" {
		require.NoError(t, srv.SetMeshKey(meshKey))
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		_ = srv.Close()
		hs.Close()
	})
	return meshReplica{srv: srv, relay: hs.URL}
}

func (r meshReplica) mesh(t *testing.T, peers ...meshReplica) *DERPMesh {
	t.Helper()
	m, err := NewDERPMesh(r.srv, testutil.Logger(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	var addrs []string
	for _, p := range peers {
		addrs = append(addrs, p.relay)
	}
	m.SetAddresses(addrs)
	return m
}

// meshNode is a DERP client (a node homed on one replica) and what it
// receives.
type meshNode struct {
	client *derphttp.Client
	pub    key.NodePublic
	recv   chan derp.ReceivedMessage
}

func newMeshNode(ctx context.Context, t *testing.T, r meshReplica) meshNode {
	t.Helper()
	priv := key.NewNode()
	c, err := derphttp.NewClient(priv, r.relay+"/derp", t.Logf, netmon.NewStatic())
	require.NoError(t, err)
	require.NoError(t, c.Connect(ctx))
	n := meshNode{client: c, pub: priv.Public(), recv: make(chan derp.ReceivedMessage, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.Recv()
			if err != nil {
				return
			}
			if p, ok := m.(derp.ReceivedPacket); ok {
				// Data is the client's buffer, reused by the next Recv.
				p.Data = append([]byte(nil), p.Data...)
				m = p
			}
			select {
			case n.recv <- m:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-done
	})
	return n
}

// sendUntilReceived sends payload from one node to another until it
// arrives (the mesh learns of the receiver asynchronously).
func sendUntilReceived(ctx context.Context, t *testing.T, from, to meshNode, payload string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		require.NoError(t, from.client.Send(to.pub, []byte(payload)))
		for {
			select {
			case m := <-to.recv:
				if p, ok := m.(derp.ReceivedPacket); ok && string(p.Data) == payload {
					require.Equal(t, from.pub, p.Source)
					return
				}
				continue
			case <-tick.C:
			case <-ctx.Done():
				t.Fatalf("%q from %s never reached %s", payload, from.pub.ShortString(), to.pub.ShortString())
			}
			break
		}
	}
}

// TestDERPMesh: two replicas' DERP servers with the same mesh key relay
// between nodes homed on different replicas, both ways; a replica's own
// address among its peers is ignored.
func TestDERPMesh(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	meshKey, err := NewDERPMeshKey()
	require.NoError(t, err)
	a := newMeshReplica(t, meshKey)
	b := newMeshReplica(t, meshKey)
	a.mesh(t, a, b)
	mb := b.mesh(t, a)
	require.Equal(t, []string{a.relay + "/derp"}, mb.Addresses())

	client := newMeshNode(ctx, t, a)
	agent := newMeshNode(ctx, t, b)
	sendUntilReceived(ctx, t, client, agent, "hello agent")
	sendUntilReceived(ctx, t, agent, client, "hello client")
	require.NoError(t, CheckDERPRelay(ctx, a.relay, b.relay, testutil.Logger(t)))
	require.NoError(t, CheckDERPRelay(ctx, b.relay+"/", a.relay, nil))

	// Dropping a peer drops what was learnt through it: b no longer
	// forwards to a's node.
	mb.SetAddresses(nil)
	require.Empty(t, mb.Addresses())
	expectNotHere(ctx, t, agent, client)
}

// expectNotHere sends a packet from one node to another and expects the
// relay to answer that the receiver is not connected to it (nor to any
// peer it meshes with), and the receiver to get nothing.
func expectNotHere(ctx context.Context, t *testing.T, from, to meshNode) {
	t.Helper()
	// The relay answers "not here" only to what looks like a disco
	// message (magicsock's path probes), so that is what is sent.
	probe := append([]byte(disco.Magic), make([]byte, key.DiscoPublicRawLen+disco.NonceLen+8)...)
	require.True(t, disco.LooksLikeDiscoWrapper(probe))
	require.NoError(t, from.client.Send(to.pub, probe))
	for {
		select {
		case m := <-from.recv:
			// Other news may come first (a peer's mesh link going away
			// tells senders their peers there are gone).
			gone, ok := m.(derp.PeerGoneMessage)
			if !ok || gone.Peer != to.pub || gone.Reason != derp.PeerGoneReasonNotHere {
				continue
			}
		case <-ctx.Done():
			t.Fatal("the relay never answered a packet for a node it cannot reach")
		}
		break
	}
	// Only the probe counts: copies of earlier payloads that
	// sendUntilReceived sent while the link existed may still be queued.
	for {
		select {
		case m := <-to.recv:
			if p, ok := m.(derp.ReceivedPacket); ok && string(p.Data) == string(probe) {
				t.Fatalf("the probe (%d bytes) arrived across a link that should not exist", len(p.Data))
			}
			continue
		default:
		}
		break
	}
}

// TestDERPMeshWrongKey: a replica whose mesh key its peer does not share is
// refused (the mesh reports it), and a packet for a node on the peer is
// dropped: the sender is told the node is not here.
func TestDERPMeshWrongKey(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	keyA, err := NewDERPMeshKey()
	require.NoError(t, err)
	keyB, err := NewDERPMeshKey()
	require.NoError(t, err)
	a := newMeshReplica(t, keyA)
	b := newMeshReplica(t, keyB)
	ma := a.mesh(t, b)
	mb := b.mesh(t, a)

	client := newMeshNode(ctx, t, a)
	agent := newMeshNode(ctx, t, b)
	require.Eventually(t, func() bool {
		return ma.Status()[b.relay+"/derp"] != nil && mb.Status()[a.relay+"/derp"] != nil
	}, 30*time.Second, 20*time.Millisecond, "both meshes report the refusal")

	expectNotHere(ctx, t, client, agent)
	expectNotHere(ctx, t, agent, client)
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	require.ErrorContains(t, CheckDERPRelay(short, a.relay, b.relay, nil), "never reached")
}

// TestDERPMeshNeedsKey: a mesh on a server without a key is refused, and a
// malformed key too.
func TestDERPMeshNeedsKey(t *testing.T) {
	t.Parallel()
	srv := NewDERPServer(nil)
	defer srv.Close()
	_, err := NewDERPMesh(srv, nil, nil)
	require.ErrorContains(t, err, "no mesh key")
	require.Error(t, srv.SetMeshKey("not-hex"))
}

func TestMeshURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://10.0.0.2:3000":        "http://10.0.0.2:3000/derp",
		"https://r1.example.com/":     "https://r1.example.com/derp",
		"https://r1.example.com/derp": "https://r1.example.com/derp",
	} {
		got, err := meshURL(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{"", "10.0.0.2:3000", "ftp://x"} {
		_, err := meshURL(bad)
		require.Error(t, err, bad)
	}
}
