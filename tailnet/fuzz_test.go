package tailnet

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/google/uuid"

	"github.com/opencoder/coder/tailnet/proto"
)

// Coordination messages come from outside: a CoordinateRequest from any
// agent or client that authenticated to coderd, a CoordinateResponse from
// coderd to every node. Each side decodes a websocket message as JSON
// (wsjson) and applies it. Whatever the bytes, that must return an error
// or apply cleanly, never panic, and never let a node claim an address
// that is not its own.

// fuzzAgentID and fuzzClientID are fixed so that seeds can name their
// addresses.
var (
	fuzzAgentID  = uuid.MustParse("8f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b")
	fuzzClientID = uuid.MustParse("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d")
)

// fuzzNodeKey and fuzzDiscoKey are well-formed public keys.
const (
	fuzzNodeKey  = "nodekey:6d1b4c2a8f3e5d7c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d2c"
	fuzzDiscoKey = "discokey:0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)

func fuzzNodeJSON(addr netip.Addr) string {
	n := &proto.Node{Key: fuzzNodeKey, DiscoKey: fuzzDiscoKey, PreferredDERP: EmbeddedRegionID,
		Addresses: []netip.Prefix{netip.PrefixFrom(addr, 128)}, AllowedIPs: []netip.Prefix{netip.PrefixFrom(addr, 128)},
		Endpoints: []string{"127.0.0.1:41641", "[::1]:41641"}, DERPLatency: map[string]float64{"999-v4": 0.002}}
	b, err := json.Marshal(n)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// FuzzCoordinatorRequest applies one request, as the coordinator's reader
// decodes it, from a connected agent or client (authorised for the agent)
// while both have a tunnel and nodes.
func FuzzCoordinatorRequest(f *testing.F) {
	agentNode := fuzzNodeJSON(AgentIP(fuzzAgentID))
	clientIP := netip.MustParseAddr("fd7a:115c:a1e0:8000::1")
	f.Add(false, `{"update_self":`+fuzzNodeJSON(clientIP)+`}`)
	f.Add(true, `{"update_self":`+agentNode+`}`)
	f.Add(false, `{"update_self":`+agentNode+`}`) // a client claiming the agent's address
	f.Add(true, `{"update_self":`+fuzzNodeJSON(clientIP)+`}`)
	f.Add(false, `{"add_tunnel":"`+fuzzAgentID.String()+`","remove_tunnel":"`+fuzzAgentID.String()+`"}`)
	f.Add(false, `{"add_tunnel":"`+uuid.Nil.String()+`"}`)
	f.Add(true, `{"add_tunnel":"`+fuzzClientID.String()+`"}`)
	f.Add(false, `{"disconnect":true}`)
	f.Add(false, `{"update_self":{"addresses":[""],"allowed_ips":["0.0.0.0/0"]}}`)
	f.Add(true, `{"update_self":{"addresses":[],"key":"nodekey:zz"}}`)
	f.Add(false, `{"update_self":null,"add_tunnel":null}`)
	f.Add(false, `[1,2,3]`)
	f.Fuzz(func(t *testing.T, fromAgent bool, msg string) {
		var req proto.CoordinateRequest
		if err := json.Unmarshal([]byte(msg), &req); err != nil {
			return
		}
		c := NewCoordinator(nil)
		agent := &coordPeer{id: fuzzAgentID, agent: true}
		client := &coordPeer{id: fuzzClientID, authorise: func(id uuid.UUID) bool { return id == fuzzAgentID }}
		for _, p := range []*coordPeer{agent, client} {
			p.resps = make(chan *proto.CoordinateResponse, respQueueSize)
			p.done = make(chan struct{})
			if err := c.register(p); err != nil {
				t.Fatal(err)
			}
		}
		setup := []struct {
			p   *coordPeer
			req string
		}{
			{agent, `{"update_self":` + agentNode + `}`},
			{client, `{"update_self":` + fuzzNodeJSON(clientIP) + `,"add_tunnel":"` + fuzzAgentID.String() + `"}`},
		}
		for _, s := range setup {
			var r proto.CoordinateRequest
			if err := json.Unmarshal([]byte(s.req), &r); err != nil {
				t.Fatal(err)
			}
			if err := c.handle(s.p, &r); err != nil {
				t.Fatalf("setup request refused: %v", err)
			}
		}

		from := client
		if fromAgent {
			from = agent
		}
		_ = c.handle(from, &req)

		c.mu.Lock()
		for _, p := range []*coordPeer{agent, client} {
			if p.node == nil {
				continue
			}
			if p.node.ID != p.id {
				t.Errorf("stored node of %s carries ID %s", p.id, p.node.ID)
			}
			if err := c.validateNodeLocked(p, p.node); err != nil {
				t.Errorf("stored node of %s is invalid: %v", p.id, err)
			}
		}
		for addr, owner := range c.addrOwner {
			p := c.peers[owner]
			if p == nil || p.node == nil || !containsAddr(p.node.Addresses, addr) {
				t.Errorf("address %v owned by %s, which does not claim it", addr, owner)
			}
		}
		c.mu.Unlock()
		c.leave(agent, false)
		c.leave(client, false)
		_ = c.Close()
	})
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// FuzzConnPeerUpdates applies a coordinator response, as a node's reader
// decodes it, to a running node. Each run leaves no peer behind.
func FuzzConnPeerUpdates(f *testing.F) {
	agentNode := fuzzNodeJSON(AgentIP(fuzzAgentID))
	id := fuzzAgentID.String()
	f.Add(`{"peer_updates":[{"id":"` + id + `","kind":"node","node":` + agentNode + `}]}`)
	f.Add(`{"peer_updates":[{"id":"` + id + `","kind":"node","node":` + agentNode + `},{"id":"` + id + `","kind":"lost"},{"id":"` + id + `","kind":"disconnected"}]}`)
	f.Add(`{"peer_updates":[{"id":"` + id + `","kind":"node"}]}`)
	f.Add(`{"peer_updates":[{"id":"` + id + `","kind":"node","node":{"key":"` + fuzzNodeKey + `","disco":"` + fuzzDiscoKey + `","addresses":["0.0.0.0/0"],"allowed_ips":[],"endpoints":["nope","1.2.3.4:0"]}}]}`)
	f.Add(`{"peer_updates":[{"id":"` + id + `","kind":"node","node":{"key":"nodekey:00","disco":"discokey:"}}]}`)
	f.Add(`{"peer_updates":[{"id":"` + id + `","kind":"surprise"}],"error":"x","error_code":"not_authorised"}`)
	f.Add(`{}`)
	conn, err := NewConn(&Options{Addresses: []netip.Prefix{RandomClientPrefix()}, Logger: testLogger(f)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = conn.Close() })
	f.Fuzz(func(t *testing.T, msg string) {
		var resp proto.CoordinateResponse
		if err := json.Unmarshal([]byte(msg), &resp); err != nil {
			return
		}
		_ = conn.UpdatePeers(resp.PeerUpdates)
		_ = conn.Status()
		// Forget every peer this input named, so runs stay independent.
		var forget []proto.PeerUpdate
		for _, u := range resp.PeerUpdates {
			forget = append(forget, proto.PeerUpdate{ID: u.ID, Kind: proto.PeerDisconnected})
		}
		if err := conn.UpdatePeers(forget); err != nil {
			t.Fatalf("forget peers: %v", err)
		}
		if st := conn.Status(); len(st.Peers) != 0 {
			t.Fatalf("peers left after forgetting them all: %+v", st.Peers)
		}
	})
}

// TestFuzzSeedsApply keeps the fuzz seeds meaningful: the well-formed node
// is accepted by the coordinator and by a node.
func TestFuzzSeedsApply(t *testing.T) {
	t.Parallel()
	var n proto.Node
	if err := json.Unmarshal([]byte(fuzzNodeJSON(AgentIP(fuzzAgentID))), &n); err != nil {
		t.Fatal(err)
	}
	_, conn := newTestConn(t, nil, false, false)
	if err := conn.UpdatePeers([]proto.PeerUpdate{{ID: fuzzAgentID, Kind: proto.PeerNode, Node: &n}}); err != nil {
		t.Fatal(err)
	}
	if st := conn.Status(); len(st.Peers) != 1 {
		t.Fatalf("seed node not applied: %+v", st.Peers)
	}
}
