package proto_test

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/tailnet/proto"
)

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	id := uuid.New()
	node := &proto.Node{
		ID:            id,
		AsOf:          time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		Key:           "nodekey:00",
		DiscoKey:      "discokey:00",
		PreferredDERP: 999,
		DERPLatency:   map[string]float64{"999-v4": 0.001},
		Addresses:     []netip.Prefix{netip.MustParsePrefix("fd7a:115c:a1e0::1/128")},
		AllowedIPs:    []netip.Prefix{netip.MustParsePrefix("fd7a:115c:a1e0::1/128")},
		Endpoints:     []string{"127.0.0.1:41641"},
	}
	resp := proto.CoordinateResponse{PeerUpdates: []proto.PeerUpdate{{ID: id, Node: node, Kind: proto.PeerNode}}}
	b, err := json.Marshal(resp)
	require.NoError(t, err)
	require.Contains(t, string(b), `"kind":"node"`)
	require.Contains(t, string(b), `"addresses":["fd7a:115c:a1e0::1/128"]`)
	var got proto.CoordinateResponse
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, resp, got)

	req := proto.CoordinateRequest{AddTunnel: &id}
	b, err = json.Marshal(req)
	require.NoError(t, err)
	require.JSONEq(t, `{"add_tunnel":"`+id.String()+`"}`, string(b))
}

func TestCheckVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		version string
		ok      bool
	}{
		{"", true},
		{proto.Version, true},
		{"1.7", true},
		{"2.0", false},
		{"0.9", false},
		{"one.two", false},
		{"1", false},
	}
	for _, tc := range tests {
		err := proto.CheckVersion(tc.version)
		if tc.ok {
			require.NoError(t, err, tc.version)
		} else {
			require.ErrorIs(t, err, proto.ErrUnsupportedVersion, tc.version)
		}
	}
}
