package provisionerdserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReapGate: the reaper reaps while the database was never lost; not
// while it is away; and, once it is back, only after a whole heartbeat
// timeout, since the daemons could not heartbeat meanwhile.
func TestReapGate(t *testing.T) {
	t.Parallel()
	const timeout = 30 * time.Second
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var g reapGate
	require.Equal(t, gateSame, g.observe(t0, true))
	require.True(t, g.allowed(t0, timeout), "never lost")

	require.Equal(t, gateLost, g.observe(t0.Add(time.Second), false))
	require.Equal(t, gateSame, g.observe(t0.Add(2*time.Second), false), "reported once per outage")
	require.False(t, g.allowed(t0.Add(2*time.Second), timeout), "away")

	back := t0.Add(time.Minute)
	require.Equal(t, gateBack, g.observe(back, true))
	require.False(t, g.allowed(back, timeout))
	require.False(t, g.allowed(back.Add(timeout-time.Second), timeout), "daemons still catching up")
	require.Equal(t, gateSame, g.observe(back.Add(timeout), true))
	require.True(t, g.allowed(back.Add(timeout), timeout))

	// A second outage starts the wait again.
	require.Equal(t, gateLost, g.observe(back.Add(2*timeout), false))
	require.Equal(t, gateBack, g.observe(back.Add(3*timeout), true))
	require.False(t, g.allowed(back.Add(3*timeout+time.Second), timeout))
}
