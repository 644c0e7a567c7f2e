// Package proto holds the JSON wire types of tailnet coordination: the
// messages an agent or a client exchanges with coderd's coordinator over a
// websocket to learn how to reach its peers.
//
// The package is deliberately tiny and imports nothing from tailscale.com, so
// codersdk and the CLI can depend on it without pulling in the WireGuard
// engine. Keys are carried in their text form ("nodekey:<hex>",
// "discokey:<hex>"); the tailnet package converts them.
//
// House rules: fields are only ever added (never renamed or retyped) within a
// major Version; every change gets a dated line in the Version changelog.
package proto

import (
	"net/netip"
	"time"

	"github.com/google/uuid"
)

// Node describes how to reach one tailnet node. It is produced by the node
// itself (tailnet.Conn.Node) and relayed verbatim by the coordinator, except
// that the coordinator may strip Endpoints when direct connections are
// disabled.
type Node struct {
	// ID is the UUID the node was created with (an agent's ID or a client's
	// random ID). Informational: receivers identify peers by
	// PeerUpdate.ID, which the coordinator sets from the authenticated
	// connection, never from this field.
	ID uuid.UUID `json:"id"`
	// AsOf is when the node produced this description; newer wins.
	AsOf time.Time `json:"as_of"`
	// Key is the WireGuard node public key, "nodekey:<hex>".
	Key string `json:"key"`
	// DiscoKey is the disco (path discovery) public key, "discokey:<hex>".
	DiscoKey string `json:"disco"`
	// PreferredDERP is the home DERP region ID; peers send to it first.
	// Zero means unknown (the node is not reachable yet).
	PreferredDERP int `json:"preferred_derp"`
	// DERPLatency maps a region label ("<id>-v4", "<id>-v6") to its
	// measured round-trip time in seconds.
	DERPLatency map[string]float64 `json:"derp_latency,omitempty"`
	// Addresses are the node's own tailnet addresses (single-IP prefixes).
	Addresses []netip.Prefix `json:"addresses"`
	// AllowedIPs are the prefixes the node may send from; for ordinary
	// nodes the same as Addresses.
	AllowedIPs []netip.Prefix `json:"allowed_ips"`
	// Endpoints are UDP "ip:port" candidates for direct connections. Empty
	// when the node (or the deployment) only allows relayed traffic.
	Endpoints []string `json:"endpoints,omitempty"`
}

// CoordinateRequest is one message from a node to the coordinator. Exactly
// one field is normally set; a message with several set is applied in the
// order UpdateSelf, AddTunnel, RemoveTunnel, Disconnect.
type CoordinateRequest struct {
	// UpdateSelf publishes the sender's current node.
	UpdateSelf *Node `json:"update_self,omitempty"`
	// AddTunnel asks to exchange nodes with the given peer (an agent ID).
	// Clients only; the coordinator refuses IDs the client is not
	// authorised for.
	AddTunnel *uuid.UUID `json:"add_tunnel,omitempty"`
	// RemoveTunnel stops the exchange with the given peer.
	RemoveTunnel *uuid.UUID `json:"remove_tunnel,omitempty"`
	// Disconnect announces a graceful goodbye: peers are told
	// "disconnected" rather than "lost".
	Disconnect bool `json:"disconnect,omitempty"`
}

// PeerUpdateKind says what happened to a peer.
type PeerUpdateKind string

// The kinds of PeerUpdate.
const (
	// PeerNode carries a new or changed node for the peer.
	PeerNode PeerUpdateKind = "node"
	// PeerDisconnected means the peer said goodbye or the tunnel was
	// removed: forget it.
	PeerDisconnected PeerUpdateKind = "disconnected"
	// PeerLost means the peer's coordination connection dropped without a
	// goodbye. Its data path may still work for a while.
	PeerLost PeerUpdateKind = "lost"
)

// PeerUpdate tells a node about one of its peers.
type PeerUpdate struct {
	// ID identifies the peer (agent ID or client ID), as authenticated by
	// coderd.
	ID uuid.UUID `json:"id"`
	// Node is set when Kind is PeerNode.
	Node *Node `json:"node,omitempty"`
	// Kind is what happened.
	Kind PeerUpdateKind `json:"kind"`
	// Reason is a human-readable explanation, for logs.
	Reason string `json:"reason,omitempty"`
}

// CoordinateResponse is one message from the coordinator to a node.
type CoordinateResponse struct {
	// PeerUpdates lists changes to the receiver's peers, in order.
	PeerUpdates []PeerUpdate `json:"peer_updates,omitempty"`
	// Error reports a refused request in words, for humans (for example
	// "add tunnel to <id>: not authorised"). The connection stays open.
	Error string `json:"error,omitempty"`
	// ErrorCode classifies Error for programs; match on it, never on the
	// text.
	ErrorCode ErrorCode `json:"error_code,omitempty"`
}

// ErrorCode classifies a CoordinateResponse.Error.
type ErrorCode string

// The error codes.
const (
	// ErrorNotAuthorised: the request needs an authorisation the connection
	// does not have (a tunnel to another agent, or any tunnel from an
	// agent).
	ErrorNotAuthorised ErrorCode = "not_authorised"
	// ErrorInvalidRequest: the request was malformed (for example a node
	// claiming an address that is not its own).
	ErrorInvalidRequest ErrorCode = "invalid_request"
)
