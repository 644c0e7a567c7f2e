package tailnet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
	"tailscale.com/net/stun"
	"tailscale.com/tailcfg"
)

func TestNewDERPMap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
		return p
	}
	extra := writeFile("extra.json", `{"Regions": {"1": {"RegionCode": "ext", "Nodes": [
		{"Name": "1a", "HostName": "derp.example.com"},
		{"Name": "1s", "HostName": "stun.example.com", "STUNOnly": true, "STUNPort": 3478}]}}}`)
	collide := writeFile("collide.json", `{"Regions": {"999": {"Nodes": [{"Name": "x", "HostName": "x"}]}}}`)
	stunOnly := writeFile("stunonly.json", `{"Regions": {"2": {"Nodes": [{"Name": "2s", "HostName": "s", "STUNOnly": true}]}}}`)

	tests := []struct {
		name    string
		url     string
		stun    []string
		extra   string
		noSTUN  bool
		wantErr string
		check   func(t *testing.T, m *tailcfg.DERPMap)
	}{{
		name: "http with port and ip literal",
		url:  "http://127.0.0.1:3000",
		stun: []string{"127.0.0.1:3478"},
		check: func(t *testing.T, m *tailcfg.DERPMap) {
			r := m.Regions[EmbeddedRegionID]
			require.Equal(t, EmbeddedRegionCode, r.RegionCode)
			require.Len(t, r.Nodes, 2)
			d := r.Nodes[0]
			require.Equal(t, "127.0.0.1", d.HostName)
			require.Equal(t, 3000, d.DERPPort)
			require.Equal(t, "127.0.0.1", d.IPv4)
			require.Equal(t, "none", d.IPv6)
			require.Equal(t, -1, d.STUNPort)
			require.False(t, d.STUNOnly)
			s := r.Nodes[1]
			require.True(t, s.STUNOnly)
			require.Equal(t, 3478, s.STUNPort)
			require.Equal(t, EmbeddedRegionID, s.RegionID)
		},
	}, {
		name: "https default port and hostname",
		url:  "https://coder.example.com",
		check: func(t *testing.T, m *tailcfg.DERPMap) {
			d := m.Regions[EmbeddedRegionID].Nodes[0]
			require.Equal(t, "coder.example.com", d.HostName)
			require.Equal(t, 443, d.DERPPort)
			require.Empty(t, d.IPv4)
		},
	}, {
		name:   "stun disabled",
		url:    "https://coder.example.com",
		stun:   []string{"127.0.0.1:3478"},
		extra:  extra,
		noSTUN: true,
		check: func(t *testing.T, m *tailcfg.DERPMap) {
			require.Len(t, m.Regions[EmbeddedRegionID].Nodes, 1)
			require.Len(t, m.Regions[1].Nodes, 1)
			require.Equal(t, -1, m.Regions[1].Nodes[0].STUNPort)
		},
	}, {
		name:  "extra regions",
		url:   "https://coder.example.com",
		extra: extra,
		check: func(t *testing.T, m *tailcfg.DERPMap) {
			require.Len(t, m.Regions, 2)
			require.Equal(t, "ext", m.Regions[1].RegionCode)
			require.Equal(t, 1, m.Regions[1].RegionID)
			require.Equal(t, 1, m.Regions[1].Nodes[1].RegionID)
		},
	},
		{name: "region collision", url: "https://c.example.com", extra: collide, wantErr: "collides"},
		{name: "stun-only region", url: "https://c.example.com", extra: stunOnly, wantErr: "no DERP node"},
		{name: "missing file", url: "https://c.example.com", extra: filepath.Join(dir, "nope.json"), wantErr: "read extra regions"},
		{name: "bad scheme", url: "ftp://c.example.com", wantErr: "scheme"},
		{name: "bad stun address", url: "https://c.example.com", stun: []string{"nope"}, wantErr: "stun address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tc.url)
			require.NoError(t, err)
			m, err := NewDERPMap(u, tc.stun, tc.extra, tc.noSTUN)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			tc.check(t, m)
		})
	}
}

func TestDERPHandler(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	h, closer := NewDERPHandler(testLogger(t))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		_ = closer.Close()
		srv.Close()
	})

	for _, path := range []string{"/derp/latency-check", "/derp/probe"} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}

	// A plain GET is not a DERP connection.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/derp", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusUpgradeRequired, resp.StatusCode)

	// Websocket DERP (browsers, proxies that only pass websockets) is
	// accepted with the "derp" subprotocol.
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/derp", &websocket.DialOptions{
		Subprotocols: []string{"derp"},
	})
	require.NoError(t, err)
	require.Equal(t, "derp", ws.Subprotocol())
	_ = ws.CloseNow()
}

func TestSTUNServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testContext(t))
	s, err := NewSTUNServer(ctx, "127.0.0.1:0")
	require.NoError(t, err)

	c, err := net.Dial("udp", s.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	dl, _ := ctx.Deadline()
	require.NoError(t, c.SetDeadline(dl))
	tx := stun.NewTxID()
	_, err = c.Write(stun.Request(tx))
	require.NoError(t, err)
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	require.NoError(t, err)
	gotTx, addr, err := stun.ParseResponse(buf[:n])
	require.NoError(t, err)
	require.Equal(t, tx, gotTx)
	require.Equal(t, c.LocalAddr().(*net.UDPAddr).AddrPort(), addr)

	// Cancelling ctx stops it; Close still joins and is idempotent.
	cancel()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
}
