package healthcheck

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/opencoder/coder/codersdk"
)

// Websocket opens a websocket to coderd through its access URL, on the
// DERP relay's websocket endpoint (what browsers use), and closes it. A
// proxy or load balancer in front of coderd that drops the Upgrade header
// fails it, and with it web terminals, live build logs and browser
// connections. derpPath is where the relay is mounted ("/derp").
func Websocket(ctx context.Context, accessURL *url.URL, derpPath string, client *http.Client) codersdk.HealthCheck {
	u := *accessURL
	u.Path = derpPath
	u.RawQuery = ""
	start := time.Now()
	conn, res, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"derp"}})
	latency := time.Since(start)
	if err != nil {
		msg := fmt.Sprintf("websocket to %s failed: %v", u.String(), err)
		if res != nil {
			msg = fmt.Sprintf("websocket to %s answered %d instead of 101 Switching Protocols: a proxy in front of coderd may drop the Upgrade header", u.String(), res.StatusCode)
		}
		return codersdk.HealthCheck{Error: msg, LatencyMS: latency.Milliseconds()}
	}
	_ = conn.CloseNow()
	return codersdk.HealthCheck{Healthy: true, LatencyMS: latency.Milliseconds(),
		Details: []string{fmt.Sprintf("%s: upgraded in %d ms", u.String(), latency.Milliseconds())}}
}
