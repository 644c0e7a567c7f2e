package database_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/testutil"
)

// TestUseAppTicketNonce: a nonce is fresh once, whichever of several
// connections (replicas) redeems it, however many race; expired nonces are
// deleted as others are redeemed.
func TestUseAppTicketNonce(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	url := dbtestutil.NewDB(t)
	stores := make([]*database.Store, 3)
	for i := range stores {
		s, err := database.Open(ctx, url)
		require.NoError(t, err)
		t.Cleanup(s.Close)
		stores[i] = s
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	expiry := now.Add(time.Minute)

	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			ok, err := stores[i%len(stores)].UseAppTicketNonce(ctx, "racing", expiry, now)
			if err != nil {
				t.Errorf("use: %v", err)
			}
			if ok {
				fresh.Add(1)
			}
		})
	}
	wg.Wait()
	require.EqualValues(t, 1, fresh.Load(), "one redemption of the same ticket wins")

	ok, err := stores[1].UseAppTicketNonce(ctx, "other", expiry, now)
	require.NoError(t, err)
	require.True(t, ok, "another ticket is its own")

	// Past the expiry both rows go as a third ticket is redeemed.
	later := expiry.Add(time.Second)
	ok, err = stores[2].UseAppTicketNonce(ctx, "third", later.Add(time.Minute), later)
	require.NoError(t, err)
	require.True(t, ok)
	var left int
	require.NoError(t, stores[0].Pool().QueryRow(ctx, `SELECT count(*) FROM app_ticket_nonces`).Scan(&left))
	require.Equal(t, 1, left, "expired nonces deleted")
}
