package tailnet

import (
	"crypto/rand"
	"net/netip"

	"github.com/google/uuid"
)

// The tailnet address scheme lives in this one file.
//
// Every address is in the IPv6 ULA prefix fd7a:115c:a1e0::/48 (the range
// Tailscale uses for its own nodes; no traffic ever leaves the tailnet, so
// reusing it cannot collide with anything routable). The 80 bits below the
// prefix come from the node's identity:
//
//   - agents: the first 80 bits (10 bytes) of the agent's UUID with the top
//     bit cleared, so any client that knows the agent ID knows where to dial
//     without asking;
//   - clients: 80 random bits with the top bit set.
//
// The top bit keeps the halves apart, so the coordinator can refuse a client
// node that claims an agent's address. Two agents collide only if their
// random (v4) UUIDs share 73 random bits.

// AddressPrefix is the ULA range every tailnet address is drawn from.
var AddressPrefix = netip.MustParsePrefix("fd7a:115c:a1e0::/48")

// AgentIP returns the tailnet address of the agent with the given ID. It is
// deterministic, so clients derive it instead of looking it up.
func AgentIP(agentID uuid.UUID) netip.Addr {
	var suffix [10]byte
	copy(suffix[:], agentID[:10])
	suffix[0] &^= 0x80
	return addrFromSuffix(suffix[:])
}

// RandomClientIP returns a fresh random tailnet address for a client Conn.
func RandomClientIP() netip.Addr {
	var suffix [10]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	suffix[0] |= 0x80
	return addrFromSuffix(suffix[:])
}

// AgentPrefix is AgentIP as the single-address prefix Options.Addresses
// wants.
func AgentPrefix(agentID uuid.UUID) netip.Prefix {
	return netip.PrefixFrom(AgentIP(agentID), 128)
}

// RandomClientPrefix is RandomClientIP as a single-address prefix.
func RandomClientPrefix() netip.Prefix {
	return netip.PrefixFrom(RandomClientIP(), 128)
}

// IsClientIP reports whether ip is in the client half of the tailnet range.
func IsClientIP(ip netip.Addr) bool {
	return AddressPrefix.Contains(ip) && ip.As16()[6]&0x80 != 0
}

func addrFromSuffix(suffix []byte) netip.Addr {
	b := AddressPrefix.Addr().As16()
	copy(b[6:], suffix)
	return netip.AddrFrom16(b)
}
