package database

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func TestMarkLost(t *testing.T) {
	t.Parallel()
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, c := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"nil", nil, false},
		{"no rows", pgx.ErrNoRows, false},
		{"plain error", errors.New("boom"), false},
		{"read reset", reset, true},
		{"wrapped read reset", fmt.Errorf("get user: %w", reset), true},
	} {
		got := markLost(c.err)
		require.Equal(t, c.unavailable, IsUnavailable(got), c.name)
		if c.err != nil {
			require.ErrorIs(t, got, c.err, "%s: the original error stays reachable", c.name)
		}
	}
	// The same network error that never went through a query is not the
	// database's, and marking twice wraps once.
	require.False(t, IsUnavailable(reset))
	once := markLost(reset)
	require.Same(t, once, markLost(once))
}
