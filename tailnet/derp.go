package tailnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"

	"tailscale.com/derp/derpserver"
	"tailscale.com/tailcfg"
	"tailscale.com/types/key"
)

// Embedded DERP region: coderd relays for its own deployment.
const (
	EmbeddedRegionID   = 999
	EmbeddedRegionCode = "coder"
	EmbeddedRegionName = "Coder Embedded Relay"
)

// DERPServer is coderd's embedded DERP relay: the handler mounted at /derp
// (and /derp/latency-check) on its HTTP port, and the server a DERPMesh
// joins to its peers'.
type DERPServer struct {
	srv     *derpserver.Server
	handler http.Handler
}

// NewDERPServer returns coderd's DERP relay, to be mounted at /derp (and
// /derp/latency-check) on its HTTP port. It accepts DERP over an HTTP
// upgrade ("Upgrade: DERP") and over websockets (subprotocol "derp", for
// browsers and for proxies that only pass websockets), and answers latency
// probes at any path ending in /latency-check or /probe. Close it before
// shutting the HTTP server down: DERP connections are hijacked and live
// until the relay closes them.
//
// DERP carries only WireGuard packets, end-to-end encrypted between nodes,
// so the relay needs no authentication of its own; put any access check in
// front of the handler. Only mesh peers (SetMeshKey) may see who is
// connected and inject packets.
func NewDERPServer(log *slog.Logger) *DERPServer {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := derpserver.New(key.NewNode(), slogLogf(log.With("component", "derp")))
	relay := derpserver.AddWebSocketSupport(srv, derpserver.Handler(srv))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/latency-check") || strings.HasSuffix(r.URL.Path, "/probe") {
			derpserver.ProbeHandler(w, r)
			return
		}
		relay.ServeHTTP(w, r)
	})
	return &DERPServer{srv: srv, handler: h}
}

// Handler serves DERP; mount it at /derp and /derp/*.
func (d *DERPServer) Handler() http.Handler { return d.handler }

// Close closes every DERP connection and stops the relay.
func (d *DERPServer) Close() error { return d.srv.Close() }

// SetMeshKey lets the holders of meshKey (64 hex digits, see
// NewDERPMeshKey) mesh with this server: watch which clients it holds and
// forward packets to them. Every replica of a deployment uses the same key.
// Call it before the handler serves.
func (d *DERPServer) SetMeshKey(meshKey string) error {
	if err := d.srv.SetMeshKey(meshKey); err != nil {
		return fmt.Errorf("set DERP mesh key: %w", err)
	}
	return nil
}

// NewDERPHandler is NewDERPServer for callers that need only the handler
// and its closer (one coderd, no mesh).
func NewDERPHandler(log *slog.Logger) (http.Handler, io.Closer) {
	d := NewDERPServer(log)
	return d.Handler(), d
}

// NewDERPMap builds the DERP map coderd hands to every node:
//
//   - region 999 ("coder"): one DERP node at accessURL's host and port, so
//     relayed traffic reaches coderd on the same port as its API;
//   - STUN-only nodes, one per stunAddrs entry ("host:port"), placed in
//     region 999 as well: netcheck measures the region through them, and a
//     region without a DERP node can never become anyone's home (upstream
//     netcheck would happily pick a STUN-only region, which cannot relay);
//   - regions from extraRegionsJSONPath (a tailcfg.DERPMap JSON file), if
//     set, each of which must contain a DERP node.
//
// disableSTUN drops every STUN node (and STUN on DERP nodes), for networks
// where UDP is pointless; nodes then stay relayed unless both sides can
// reach each other's local endpoints.
//
// An http:// accessURL switches this process's DERP clients to plain HTTP
// (see ConfigureDERPScheme).
func NewDERPMap(accessURL *url.URL, stunAddrs []string, extraRegionsJSONPath string, disableSTUN bool) (*tailcfg.DERPMap, error) {
	if accessURL == nil || accessURL.Host == "" {
		return nil, errors.New("new derp map: access URL has no host")
	}
	var defaultPort int
	switch strings.ToLower(accessURL.Scheme) {
	case "http":
		defaultPort = 80
	case "https":
		defaultPort = 443
	default:
		return nil, fmt.Errorf("new derp map: access URL scheme %q is not http or https", accessURL.Scheme)
	}
	port := defaultPort
	if p := accessURL.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("new derp map: bad access URL port %q", p)
		}
		port = n
	}
	derpNode := &tailcfg.DERPNode{
		Name:     fmt.Sprintf("%da", EmbeddedRegionID),
		RegionID: EmbeddedRegionID,
		HostName: accessURL.Hostname(),
		DERPPort: port,
		STUNPort: -1,
	}
	setNodeIPs(derpNode)
	region := &tailcfg.DERPRegion{
		RegionID:   EmbeddedRegionID,
		RegionCode: EmbeddedRegionCode,
		RegionName: EmbeddedRegionName,
		Nodes:      []*tailcfg.DERPNode{derpNode},
	}
	if !disableSTUN {
		for i, addr := range stunAddrs {
			host, portText, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("new derp map: stun address %q: %w", addr, err)
			}
			stunPort, err := strconv.Atoi(portText)
			if err != nil || stunPort <= 0 || stunPort > 65535 {
				return nil, fmt.Errorf("new derp map: stun address %q: bad port", addr)
			}
			n := &tailcfg.DERPNode{
				Name:     fmt.Sprintf("%dstun%d", EmbeddedRegionID, i),
				RegionID: EmbeddedRegionID,
				HostName: host,
				STUNOnly: true,
				STUNPort: stunPort,
			}
			setNodeIPs(n)
			region.Nodes = append(region.Nodes, n)
		}
	}
	m := &tailcfg.DERPMap{
		Regions:            map[int]*tailcfg.DERPRegion{EmbeddedRegionID: region},
		OmitDefaultRegions: true,
	}
	if extraRegionsJSONPath != "" {
		if err := addRegionsFromFile(m, extraRegionsJSONPath, disableSTUN); err != nil {
			return nil, fmt.Errorf("new derp map: %w", err)
		}
	}
	ConfigureDERPScheme(accessURL)
	return m, nil
}

// setNodeIPs pins an IP-literal host so no DNS lookup happens for it.
func setNodeIPs(n *tailcfg.DERPNode) {
	ip, err := netip.ParseAddr(n.HostName)
	if err != nil {
		return
	}
	if ip.Is4() {
		n.IPv4, n.IPv6 = ip.String(), "none"
	} else {
		n.IPv4, n.IPv6 = "none", ip.String()
	}
}

func addRegionsFromFile(m *tailcfg.DERPMap, path string, disableSTUN bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read extra regions: %w", err)
	}
	var extra tailcfg.DERPMap
	if err := json.Unmarshal(data, &extra); err != nil {
		return fmt.Errorf("parse extra regions %s: %w", path, err)
	}
	for id, r := range extra.Regions {
		if r == nil {
			return fmt.Errorf("extra region %d is empty", id)
		}
		if r.RegionID == 0 {
			r.RegionID = id
		}
		if r.RegionID != id {
			return fmt.Errorf("extra region keyed %d has RegionID %d", id, r.RegionID)
		}
		if _, ok := m.Regions[id]; ok {
			return fmt.Errorf("extra region %d collides with an existing region", id)
		}
		hasDERP := false
		for _, n := range r.Nodes {
			if n == nil {
				return fmt.Errorf("extra region %d has an empty node", id)
			}
			n.RegionID = id
			if disableSTUN {
				n.STUNPort = -1
			}
			hasDERP = hasDERP || !n.STUNOnly
		}
		if disableSTUN {
			r.Nodes = slicesDeleteSTUNOnly(r.Nodes)
		}
		if !hasDERP {
			return fmt.Errorf("extra region %d has no DERP node (STUN-only nodes belong in a region that also relays)", id)
		}
		m.Regions[id] = r
	}
	return nil
}

func slicesDeleteSTUNOnly(nodes []*tailcfg.DERPNode) []*tailcfg.DERPNode {
	out := nodes[:0]
	for _, n := range nodes {
		if !n.STUNOnly {
			out = append(out, n)
		}
	}
	return out
}
