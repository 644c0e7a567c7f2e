//go:build !((linux || darwin) && ts_debug_websockets)

package tailnet

// derpWebSocketsCompiled mirrors upstream derphttp's build constraint for its
// websocket DERP client.
const derpWebSocketsCompiled = false
