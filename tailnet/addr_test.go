package tailnet

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestAddresses(t *testing.T) {
	t.Parallel()
	for range 100 {
		id := uuid.New()
		a := AgentIP(id)
		require.True(t, AddressPrefix.Contains(a))
		require.Equal(t, a, AgentIP(id), "agent address must be deterministic")
		require.False(t, IsClientIP(a))
		require.Equal(t, a, AgentPrefix(id).Addr())
		require.Equal(t, 128, AgentPrefix(id).Bits())

		c := RandomClientIP()
		require.True(t, AddressPrefix.Contains(c))
		require.True(t, IsClientIP(c))
		require.NotEqual(t, c, RandomClientIP())
	}
	require.NotEqual(t, AgentIP(uuid.New()), AgentIP(uuid.New()))
}
