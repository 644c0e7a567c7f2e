package tailnet

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"

	"github.com/opencoder/coder/tailnet/proto"
)

// TestConnBorrowsPeerDERP: while netcheck has not chosen a home region
// (here it cannot: the relay's DERP and STUN ports take packets and never
// answer, so its probes run until they time out), a node has no node to
// publish; a peer's node whose home region is in our DERP map lends us
// that region at once, so a client can answer its agent before netcheck
// ends. A region outside our map is not borrowed.
func TestConnBorrowsPeerDERP(t *testing.T) {
	t.Parallel()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = tcp.Close() })
	go func() { // accept and say nothing
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = udp.Close() })
	const region = 7
	dm := &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{region: {
		RegionID: region, RegionCode: "silent", RegionName: "silent",
		Nodes: []*tailcfg.DERPNode{{
			Name: "7a", RegionID: region, HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none",
			DERPPort: tcp.Addr().(*net.TCPAddr).Port, STUNPort: udp.LocalAddr().(*net.UDPAddr).Port,
			InsecureForTests: true,
		}},
	}}}
	var events []string
	traced := make(chan string, 64)
	_, c := newTestConnOpts(t, Options{DERPMap: dm, Trace: func(e string) {
		select {
		case traced <- e:
		default:
		}
	}}, false)
	require.Nil(t, c.Node(), "netcheck cannot have chosen a region yet")

	peer := func(home int) proto.PeerUpdate {
		id := uuid.New()
		return proto.PeerUpdate{ID: id, Kind: proto.PeerNode, Node: &proto.Node{
			ID: id, AsOf: time.Now(), Key: key.NewNode().Public().String(), DiscoKey: key.NewDisco().Public().String(),
			PreferredDERP: home, Addresses: []netip.Prefix{AgentPrefix(id)}, AllowedIPs: []netip.Prefix{AgentPrefix(id)},
		}}
	}
	require.NoError(t, c.UpdatePeers([]proto.PeerUpdate{peer(region + 1)}))
	require.Nil(t, c.Node(), "a region outside the DERP map was borrowed")

	require.NoError(t, c.UpdatePeers([]proto.PeerUpdate{peer(region)}))
	n := c.Node()
	require.NotNil(t, n, "the peer's region was not borrowed")
	require.Equal(t, region, n.PreferredDERP)
	for len(traced) > 0 {
		events = append(events, <-traced)
	}
	require.Contains(t, events, "tailnet: home DERP region 7 borrowed from a peer until netcheck")
}
