package healthcheck_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"tailscale.com/tailcfg"

	"github.com/opencoder/coder/coderd/healthcheck"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// closedPort returns a loopback port nothing listens on (TCP and UDP).
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// The failures the report exists for, each with its reason: a relay nobody
// can reach, a STUN server that does not answer, a proxy that refuses the
// websocket upgrade.
func TestFailures(t *testing.T) {
	t.Parallel()
	port := closedPort(t)
	m := &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{999: {RegionID: 999, RegionCode: "coder", Nodes: []*tailcfg.DERPNode{
		{Name: "999a", RegionID: 999, HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", DERPPort: port, STUNPort: -1},
		{Name: "999stun0", RegionID: 999, HostName: "127.0.0.1", IPv4: "127.0.0.1", IPv6: "none", STUNOnly: true, STUNPort: port},
	}}}}

	t.Run("derp", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(testutil.Context(t, testutil.WaitLong), 5*time.Second)
		defer cancel()
		c := healthcheck.DERP(ctx, m, t.Logf)
		require.False(t, c.Healthy)
		require.Contains(t, c.Error, "no relay node answers in region [999 (coder)]")
		require.Contains(t, c.Details[0], "999a: unreachable")
	})
	t.Run("stun", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(testutil.Context(t, testutil.WaitLong), 2*time.Second)
		defer cancel()
		c := healthcheck.STUN(ctx, m)
		require.False(t, c.Healthy)
		require.Contains(t, c.Error, "no STUN server answers")
		require.Contains(t, c.Details[0], "no answer")
	})
	t.Run("stun disabled", func(t *testing.T) {
		t.Parallel()
		noSTUN := &tailcfg.DERPMap{Regions: map[int]*tailcfg.DERPRegion{999: {RegionID: 999, Nodes: m.Regions[999].Nodes[:1]}}}
		c := healthcheck.STUN(testutil.Context(t, testutil.WaitShort), noSTUN)
		require.True(t, c.Healthy)
		require.Contains(t, c.Skipped, "STUN is disabled")
	})
	t.Run("websocket refused", func(t *testing.T) {
		t.Parallel()
		// A proxy that answers plain HTTP and never upgrades.
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
		defer srv.Close()
		u, err := url.Parse(srv.URL)
		require.NoError(t, err)
		c := healthcheck.Websocket(testutil.Context(t, testutil.WaitShort), u, "/derp", srv.Client())
		require.False(t, c.Healthy)
		require.Contains(t, c.Error, "answered 200 instead of 101")
	})
}

func TestProvisioners(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		daemons   []codersdk.ProvisionerDaemon
		healthy   bool
		errorText string
		warning   string
	}{
		{name: "none", errorText: "no provisioner daemon has connected"},
		{name: "all offline", daemons: []codersdk.ProvisionerDaemon{{Name: "a", Status: "offline", APIVersion: "1.0", LastSeenAt: now.Add(-10 * time.Minute)}},
			errorText: "every provisioner daemon is offline (the last one was seen 10m0s ago)"},
		{name: "one busy", daemons: []codersdk.ProvisionerDaemon{{Name: "a", Status: "offline", LastSeenAt: now.Add(-time.Hour)}, {Name: "b", Status: "busy", APIVersion: "1.0", LastSeenAt: now}},
			healthy: true},
		{name: "other protocol", daemons: []codersdk.ProvisionerDaemon{{Name: "old", Status: "idle", APIVersion: "0.9", LastSeenAt: now}},
			healthy: true, warning: "daemon old speaks protocol 0.9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := healthcheck.Provisioners(tc.daemons, now)
			require.Equal(t, tc.healthy, c.Healthy)
			require.Len(t, c.Details, len(tc.daemons))
			if tc.errorText != "" {
				require.Contains(t, c.Error, tc.errorText)
			} else {
				require.Empty(t, c.Error)
			}
			if tc.warning != "" {
				require.Len(t, c.Warnings, 1)
				require.Contains(t, c.Warnings[0], tc.warning)
			} else {
				require.Empty(t, c.Warnings)
			}
		})
	}
}
