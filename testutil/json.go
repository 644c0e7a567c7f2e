package testutil

import (
	"bytes"
	"encoding/json"
	"testing"
)

// StableJSON checks that v survives the wire: encoded, decoded into a
// fresh T and encoded again, it gives the same bytes. A value decoded once
// from any input must reach that fixed point, so fuzz targets of wire
// formats use it as their round-trip check.
func StableJSON[T any](t testing.TB, v T) {
	t.Helper()
	first, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	var back T
	if err := json.Unmarshal(first, &back); err != nil {
		t.Fatalf("decode what was encoded: %v\n%s", err, first)
	}
	second, err := json.Marshal(back)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	if !bytes.Equal(first, second) {
		t.Fatalf("JSON round trip changed the value:\n%s\n%s", first, second)
	}
}
