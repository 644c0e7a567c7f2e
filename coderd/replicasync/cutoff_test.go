package replicasync_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/coderd/replicasync"
	"github.com/opencoder/coder/testutil"
)

// TestCutOffFromDatabase: a replica whose path to PostgreSQL is cut while
// it has a peer that still reaches the database becomes cut off after a
// peer timeout (once, with one OnCutOff call), as the peer drops it; a
// lone replica never does, nor one whose peers report their database down
// too; when the path heals, it is registered and not cut off any more.
func TestCutOffFromDatabase(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	host := mustHost(t, d.url)
	proxy := testutil.NewCutProxy(t, host)
	// a reaches the database through the proxy; b directly.
	const interval = 100 * time.Millisecond
	db, err := database.Open(ctx, strings.Replace(d.url, host, proxy.Addr(), 1))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ps, err := pubsub.New(ctx, db.Pool(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	a, err := replicasync.New(ctx, db, ps, replicasync.Options{Interval: interval, Hostname: "a", Logger: testutil.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	cutOff := make(chan struct{}, 10)
	a.OnCutOff(func() { cutOff <- struct{}{} })

	// Alone, a is never cut off.
	proxy.SetCut(true)
	time.Sleep(5 * a.PeerTimeout())
	require.False(t, a.CutOff(), "a lone replica is never cut off")
	require.Empty(t, cutOff)
	proxy.SetCut(false)

	// b's relay address serves its /healthz: 200 while it says so.
	var bHealthy atomic.Bool
	bSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !bHealthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(bSrv.Close)
	b := d.replica(t, replicasync.Options{Interval: interval, Hostname: "b", RelayAddress: bSrv.URL})
	require.Eventually(t, func() bool { return len(a.Peers()) == 1 }, 30*time.Second, 10*time.Millisecond)

	// The database down for everyone (b says so): a is not cut off.
	proxy.SetCut(true)
	time.Sleep(5 * a.PeerTimeout())
	require.False(t, a.CutOff(), "not cut off while its peer lost the database too")
	require.Empty(t, cutOff)
	proxy.SetCut(false)
	require.Eventually(t, func() bool { return len(a.Peers()) == 1 && len(b.Peers()) == 1 }, 30*time.Second, 10*time.Millisecond)
	bHealthy.Store(true)

	proxy.SetCut(true)
	select {
	case <-cutOff:
	case <-ctx.Done():
		t.Fatal("a never became cut off")
	}
	require.True(t, a.CutOff())
	require.Eventually(t, func() bool { return len(b.Peers()) == 0 }, 30*time.Second, 10*time.Millisecond, "b drops a")
	time.Sleep(3 * interval)
	require.Empty(t, cutOff, "one call per cut")

	proxy.SetCut(false)
	require.Eventually(t, func() bool { return !a.CutOff() }, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 30*time.Second, 10*time.Millisecond, "b sees a again")
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Host
}
