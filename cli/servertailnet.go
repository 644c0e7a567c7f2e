package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/opencoder/coder/tailnet"
)

// serverTailnet is coderd's share of the tailnet: DERP relay, STUN server,
// coordinator and the DERP map handed to nodes.
type serverTailnet struct {
	coordinator *tailnet.Coordinator
	derp        *tailnet.DERPServer
	derpHandler http.Handler
	stun        *tailnet.STUNServer
	derpMapRaw  json.RawMessage
	closeOnce   sync.Once
}

func (t *serverTailnet) derpMapJSON() json.RawMessage { return t.derpMapRaw }

func (t *serverTailnet) close() {
	t.closeOnce.Do(func() {
		_ = t.derp.Close()
		_ = t.coordinator.Close()
		if t.stun != nil {
			_ = t.stun.Close()
		}
	})
}

func startTailnet(ctx context.Context, o serverOptions, accessURL *url.URL, logger *slog.Logger) (*serverTailnet, error) {
	t := &serverTailnet{}
	var stunAddrs []string
	disableSTUN := false
	switch {
	case len(o.stunAddresses) == 1 && o.stunAddresses[0] == "disable":
		disableSTUN = true
	case len(o.stunAddresses) > 0:
		stunAddrs = o.stunAddresses
	}
	if o.stunAddress != "" && o.stunAddress != "disable" && !disableSTUN {
		stun, err := tailnet.NewSTUNServer(ctx, o.stunAddress)
		if err != nil {
			return nil, fmt.Errorf("start STUN server on %s: %w (use --stun-address disable to run without it)", o.stunAddress, err)
		}
		t.stun = stun
		if len(o.stunAddresses) == 0 {
			// Advertise the embedded server at the host clients reach coderd by.
			stunAddrs = []string{net.JoinHostPort(accessURL.Hostname(), strconv.Itoa(int(stun.Addr().Port())))}
		}
		logger.Info("STUN server listening", "address", stun.Addr().String())
	}
	derpMap, err := tailnet.NewDERPMap(accessURL, stunAddrs, o.derpConfigPath, disableSTUN)
	if err != nil {
		t.closePartial()
		return nil, err
	}
	if t.derpMapRaw, err = tailnet.MarshalDERPMap(derpMap); err != nil {
		t.closePartial()
		return nil, err
	}
	t.derp = tailnet.NewDERPServer(logger.With("component", "derp"))
	t.derpHandler = t.derp.Handler()
	t.coordinator = tailnet.NewCoordinator(logger.With("component", "coordinator"))
	t.coordinator.SetBlockEndpoints(o.blockDirect)
	return t, nil
}

func (t *serverTailnet) closePartial() {
	if t.stun != nil {
		_ = t.stun.Close()
	}
}
