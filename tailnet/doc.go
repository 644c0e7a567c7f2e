// Package tailnet is the WireGuard network that connects clients (the CLI,
// coderd) to workspace agents, built on upstream tailscale.com.
//
// It holds every import of tailscale.com in the project, so that upstream's
// unstable internal APIs touch this one package when the pinned version
// moves. It provides:
//
//   - Conn: one node: a userspace WireGuard engine with an in-process TCP/IP
//     stack (netstack), reaching peers directly over UDP when it can and
//     through DERP relays otherwise. No TUN device, no root.
//   - addresses (addr.go): every node has an address in fd7a:115c:a1e0::/48;
//     an agent's is derived from its ID, a client's is random.
//   - the server side of relaying: a DERP HTTP handler, a STUN server and
//     the DERP map that points nodes at coderd (derp.go, stun.go).
//   - the Coordinator: exchanges node descriptions (package proto) between an
//     agent and the clients allowed to reach it, over websockets
//     (coordinate_ws.go); Coordinate, the node-side loop of that exchange;
//     and Tunnels, the same exchange in process for a node that lives next
//     to the coordinator and tunnels to many agents (coderd's own node,
//     coordinate_inproc.go).
//
// Forcing DERP over websockets (Options.DERPForceWebSockets) needs
// upstream's websocket client, compiled only with -tags ts_debug_websockets:
// the Makefile builds the product and runs every test with it (GO_TAGS);
// CheckDERPWebSockets reports whether this binary has it.
//
// House rules: no Tailscale-operated host is ever contacted. There is no
// control server (no controlclient, no tsnet), no log upload (no
// logpolicy/logtail), no default DERP map; the DERP map always comes from
// coderd. Upstream's process-wide switches are set only in knobs.go. The
// test TestOnlyLoopbackTraffic runs two nodes in a network namespace and
// fails on any packet that tries to leave the host. Everything decoded from
// the wire (coordination requests and peer updates) has a fuzz target.
package tailnet
