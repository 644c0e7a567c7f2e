package proto_test

import (
	"encoding/json"
	"testing"

	"github.com/opencoder/coder/tailnet/proto"
	"github.com/opencoder/coder/testutil"
)

// The coordination messages are JSON from the other side of a websocket.
// Decoding any bytes must fail or succeed, never panic; and what decodes
// must re-encode stably: after one decode, encode -> decode -> encode gives
// the same bytes, so a message relayed by the coordinator reaches the peer
// as it was read.

const fuzzNode = `{"id":"8f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b","as_of":"2026-11-23T12:00:00.123456789+01:00",` +
	`"key":"nodekey:00","disco":"discokey:00","preferred_derp":999,"derp_latency":{"999-v4":0.001,"999-v6":1e-9},` +
	`"addresses":["fd7a:115c:a1e0::1/128"],"allowed_ips":["fd7a:115c:a1e0::1/128","10.0.0.0/8"],"endpoints":["127.0.0.1:41641","[::1]:1"]}`

func FuzzCoordinateRequest(f *testing.F) {
	f.Add(`{"update_self":` + fuzzNode + `}`)
	f.Add(`{"add_tunnel":"8f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b","remove_tunnel":"00000000-0000-0000-0000-000000000000","disconnect":true}`)
	f.Add(`{"update_self":{"addresses":["::1/200"],"as_of":"yesterday"}}`)
	f.Add(`{"add_tunnel":"not-a-uuid"}`)
	f.Add(`{"update_self":{"derp_latency":{"a":"b"},"endpoints":[1]}}`)
	f.Add(`{"update_self":{"key":"\ud800","addresses":["1.2.3.4/32"]}}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, msg string) {
		var req proto.CoordinateRequest
		if json.Unmarshal([]byte(msg), &req) != nil {
			return
		}
		testutil.StableJSON(t, &req)
	})
}

func FuzzCoordinateResponse(f *testing.F) {
	f.Add(`{"peer_updates":[{"id":"8f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b","kind":"node","node":` + fuzzNode + `}]}`)
	f.Add(`{"peer_updates":[{"id":"8f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b","kind":"lost","reason":"gone"},{"kind":"disconnected"}]}`)
	f.Add(`{"error":"add tunnel: not authorised","error_code":"not_authorised"}`)
	f.Add(`{"peer_updates":[null,{"node":null,"kind":7}]}`)
	f.Add(`{"peer_updates":{}}`)
	f.Fuzz(func(t *testing.T, msg string) {
		var resp proto.CoordinateResponse
		if json.Unmarshal([]byte(msg), &resp) != nil {
			return
		}
		testutil.StableJSON(t, &resp)
	})
}
