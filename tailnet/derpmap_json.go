package tailnet

import (
	"encoding/json"
	"errors"
	"fmt"

	"tailscale.com/tailcfg"
)

// ParseDERPMap decodes the DERP map JSON coderd hands out (in the agent
// manifest and /api/v2/derp-map), so callers outside this package never
// import tailscale.com.
func ParseDERPMap(raw json.RawMessage) (*tailcfg.DERPMap, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("the server sent no DERP map")
	}
	var m tailcfg.DERPMap
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("decode derp map: %w", err)
	}
	return &m, nil
}

// MarshalDERPMap encodes a DERP map for clients.
func MarshalDERPMap(m *tailcfg.DERPMap) (json.RawMessage, error) {
	return json.Marshal(m)
}
