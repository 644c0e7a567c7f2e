package tailnet

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"

	"tailscale.com/derp"
	"tailscale.com/derp/derphttp"
	"tailscale.com/net/netmon"
)

// NewDERPMeshKey returns a random mesh key in the form DERPServer.SetMeshKey
// takes (32 bytes, hex).
func NewDERPMeshKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate DERP mesh key: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// DERPMesh joins a DERP server to the DERP servers of its peer replicas, so
// that all replicas behind one access URL act as one relay: a node whose
// DERP connection landed on replica A reaches a node connected to replica B.
//
// For each peer it keeps one DERP client authenticated with the mesh key
// that watches which nodes the peer holds; each node seen there gets that
// client registered as its packet forwarder on the local server, so a
// packet for it is handed to the peer. Forwarding is one-way per client:
// B reaches A's nodes through B's own mesh client to A, so every replica
// must mesh with every other (and needs a relay address they can dial).
// This is upstream's design (tailscale's cmd/derper --mesh-with), with the
// peer list coming from the replicas registry instead of a flag.
type DERPMesh struct {
	srv *DERPServer
	log *slog.Logger
	tls *tls.Config

	mu     sync.Mutex // guards peers, closed
	peers  map[string]*meshPeer
	closed bool
}

// meshPeer is the watch loop towards one peer's DERP server.
type meshPeer struct {
	client *derphttp.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex // guards err
	err error      // the loop's last error; nil once it received
}

// NewDERPMesh returns a mesh for srv, which must have a mesh key.
// tlsConfig verifies peers' https relay addresses (nil: the system roots).
// Peers are added and removed with SetAddresses.
func NewDERPMesh(srv *DERPServer, log *slog.Logger, tlsConfig *tls.Config) (*DERPMesh, error) {
	if !srv.srv.HasMeshKey() {
		return nil, errors.New("DERP mesh: the server has no mesh key")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DERPMesh{srv: srv, log: log, tls: tlsConfig, peers: map[string]*meshPeer{}}, nil
}

// SetAddresses makes the peers exactly relayURLs (each a peer's relay
// address: scheme and host, the DERP server being /derp under it): new
// ones are dialled, missing ones disconnected and their nodes forgotten.
// Invalid or empty addresses are logged and skipped.
func (m *DERPMesh) SetAddresses(relayURLs []string) {
	want := map[string]bool{}
	for _, raw := range relayURLs {
		u, err := meshURL(raw)
		if err != nil {
			m.log.Warn("DERP mesh: skipping peer", "relay_address", raw, "error", err)
			continue
		}
		want[u] = true
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	var stop []*meshPeer
	for u, p := range m.peers {
		if !want[u] {
			stop = append(stop, p)
			delete(m.peers, u)
			m.log.Info("DERP mesh: peer removed", "url", u)
		}
	}
	for u := range want {
		if _, ok := m.peers[u]; ok {
			continue
		}
		p, err := m.start(u)
		if err != nil {
			m.log.Warn("DERP mesh: cannot mesh with peer", "url", u, "error", err)
			continue
		}
		m.peers[u] = p
		m.log.Info("DERP mesh: peer added", "url", u)
	}
	m.mu.Unlock()
	for _, p := range stop {
		p.stop()
	}
}

// Status is each peer's DERP URL with its watch loop's last error (nil when
// it is receiving), for health reports and tests.
func (m *DERPMesh) Status() map[string]error {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]error, len(m.peers))
	for u, p := range m.peers {
		p.mu.Lock()
		out[u] = p.err
		p.mu.Unlock()
	}
	return out
}

// Addresses lists the peers' DERP URLs, sorted.
func (m *DERPMesh) Addresses() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.peers))
	for u := range m.peers {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Close disconnects from every peer and waits for the watch loops.
// Idempotent; SetAddresses does nothing afterwards.
func (m *DERPMesh) Close() error {
	m.mu.Lock()
	m.closed = true
	peers := m.peers
	m.peers = map[string]*meshPeer{}
	m.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
	return nil
}

// meshURL turns a relay address into its DERP endpoint.
func meshURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL")
	}
	if !strings.HasSuffix(u.Path, "/derp") {
		u.Path += "/derp"
	}
	return u.String(), nil
}

func (m *DERPMesh) start(derpURL string) (*meshPeer, error) {
	log := m.log.With("peer", derpURL)
	logf := slogLogf(log)
	c, err := derphttp.NewClient(m.srv.srv.PrivateKey(), derpURL, logf, netmon.NewStatic())
	if err != nil {
		return nil, err
	}
	c.MeshKey = m.srv.srv.MeshKey()
	c.WatchConnectionChanges = true
	c.TLSConfig = m.tls
	ctx, cancel := context.WithCancel(context.Background())
	p := &meshPeer{client: c, cancel: cancel, done: make(chan struct{})}
	srv := m.srv.srv
	add := func(msg derp.PeerPresentMessage) {
		p.setErr(nil)
		srv.AddPacketForwarder(msg.Key, c)
	}
	remove := func(msg derp.PeerGoneMessage) { srv.RemovePacketForwarder(msg.Peer, c) }
	notify := func(err error) {
		if ctx.Err() != nil {
			return
		}
		if p.setErr(err) {
			log.Warn("DERP mesh: peer unreachable (retrying every 5 s)", "error", err)
		}
	}
	go func() {
		defer close(p.done)
		// Returns at once on a self-connect: our own address among the
		// peers is harmless.
		c.RunWatchConnectionLoop(ctx, srv.PublicKey(), logf, add, remove, notify)
	}()
	return p, nil
}

// setErr records the loop's state and reports whether a new failure began.
func (p *meshPeer) setErr(err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	began := err != nil && p.err == nil
	p.err = err
	return began
}

// stop ends the watch loop; the loop removes the forwarders it added when
// its connection ends.
func (p *meshPeer) stop() {
	p.cancel()
	_ = p.client.Close()
	<-p.done
}
