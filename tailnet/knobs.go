package tailnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"tailscale.com/envknob"
	"tailscale.com/net/netns"
	"tailscale.com/types/logger"
)

// Process-wide settings of upstream tailscale.com.
//
// Upstream keeps a few switches in process-global state (its envknob
// registry and netns). They are set here, and only here, through the
// functions below, never with os.Setenv: envknob caches values, so a later
// os.Setenv would be silently ignored.

// applyProcessKnobs sets the switches every tailnet node in this process
// needs. It is idempotent and safe to call from several goroutines.
func applyProcessKnobs() {
	// Never upload logs to, or ask for support from, Tailscale Inc. We never
	// construct logpolicy/logtail anyway; this is the belt to those braces.
	envknob.Setenv("TS_NO_LOGS_NO_SUPPORT", "true")
	// All our sockets are ordinary userspace sockets: no SO_MARK, no
	// binding to interfaces, no need for CAP_NET_ADMIN.
	netns.SetEnabled(false)
}

// ConfigureDERPScheme makes every DERP client in this process speak plain
// HTTP (instead of HTTPS) when serverURL is an http:// URL. coderd calls it
// through NewDERPMap; an agent or CLI process calls it with coderd's URL
// before NewConn.
//
// Upstream has one process-wide switch for this (TS_DEBUG_USE_DERP_HTTP), so
// a process cannot mix plain-HTTP and HTTPS DERP regions. An https:// URL
// leaves the switch alone, so that one http deployment in a process (for
// example a test) is not broken by another caller.
//
// The knob is written at most once per process: upstream reads it without
// a lock from running DERP clients, so rewriting it (even with the same
// value) while other nodes run is a data race.
func ConfigureDERPScheme(serverURL *url.URL) {
	if serverURL != nil && strings.EqualFold(serverURL.Scheme, "http") {
		derpHTTPOnce.Do(func() { envknob.Setenv("TS_DEBUG_USE_DERP_HTTP", "true") })
	}
}

// derpHTTPOnce guards the process-wide knob above; it is package state only
// because the knob itself is process-wide.
var derpHTTPOnce, derpWSOnce sync.Once

// derpOverHTTP reports whether ConfigureDERPScheme switched DERP to HTTP.
func derpOverHTTP() bool {
	return envknob.Bool("TS_DEBUG_USE_DERP_HTTP")
}

// ErrDERPWebSocketsNotCompiled is CheckDERPWebSockets' answer in a binary
// built without -tags ts_debug_websockets.
var ErrDERPWebSocketsNotCompiled = errors.New("DERP over websockets needs a binary built with -tags ts_debug_websockets (make build does that)")

// CheckDERPWebSockets reports whether this binary can speak DERP over
// websockets. Upstream compiles its websocket DERP client only on Linux and
// macOS with the ts_debug_websockets build tag, which `make build` sets; a
// plain `go build ./cmd/coder` lacks it. coderd calls this at start-up when
// --derp-force-websockets is set, so the flag is refused there instead of
// failing every agent and CLI connection later.
func CheckDERPWebSockets() error {
	if !derpWebSocketsCompiled {
		return ErrDERPWebSocketsNotCompiled
	}
	return nil
}

// enableDERPWebSockets makes DERP clients in this process connect with
// websockets. Without upstream's websocket client compiled in, it returns
// an error rather than silently using the plain upgrade.
func enableDERPWebSockets() error {
	if err := CheckDERPWebSockets(); err != nil {
		return err
	}
	derpWSOnce.Do(func() { envknob.Setenv("TS_DEBUG_DERP_WS_CLIENT", "true") })
	return nil
}

// slogLogf adapts an slog.Logger to upstream's printf-style logger. Upstream
// is chatty and prefixes verbose lines with "[v1]"/"[v2]"; everything goes
// to Debug, so operators see it only when they ask for it.
func slogLogf(log *slog.Logger) logger.Logf {
	return func(format string, args ...any) {
		if !log.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		log.Debug(strings.TrimSuffix(fmt.Sprintf(format, args...), "\n"))
	}
}
