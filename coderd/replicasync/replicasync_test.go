package replicasync_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/coderd/replicasync"
	"github.com/opencoder/coder/testutil"
)

// TestMain fails the run if a heartbeat goroutine outlives its Manager.
func TestMain(m *testing.M) { os.Exit(dbtestutil.MainCheckLeaks(m)) }

// never is a heartbeat interval no test waits for: what such a test sees
// arrived through pubsub, not through a poll.
const never = time.Hour

// deployment is one database shared by the replicas of a test.
type deployment struct {
	url string
	db  *database.Store
}

func newDeployment(t *testing.T) deployment {
	t.Helper()
	ctx := testutil.Context(t, time.Minute)
	url := dbtestutil.NewDB(t)
	db, err := database.Open(ctx, url)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	return deployment{url: url, db: db}
}

// replica starts a Manager with its own pool and pubsub, as a separate
// coderd process would have.
func (d deployment) replica(t *testing.T, opts replicasync.Options) *replicasync.Manager {
	t.Helper()
	ctx := testutil.Context(t, time.Minute)
	db, err := database.Open(ctx, d.url)
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ps, err := pubsub.New(ctx, db.Pool(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	if opts.Logger == nil {
		opts.Logger = testutil.Logger(t)
	}
	m, err := replicasync.New(ctx, db, ps, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// changes signals (without blocking) each OnChange call of m.
func changes(m *replicasync.Manager) <-chan struct{} {
	ch := make(chan struct{}, 1)
	m.OnChange(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	return ch
}

// waitPeers waits until m's peers are exactly ids.
func waitPeers(ctx context.Context, t *testing.T, m *replicasync.Manager, ch <-chan struct{}, ids ...uuid.UUID) {
	t.Helper()
	for {
		var got []uuid.UUID
		for _, p := range m.Peers() {
			got = append(got, p.ID)
		}
		if len(got) == len(ids) && (len(ids) == 0 || equalIDs(got, ids)) {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("peers are %v, want %v", got, ids)
		}
	}
}

func equalIDs(a, b []uuid.UUID) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// relay serves a DERP latency check, like a replica's /derp/latency-check.
func relay(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/derp/latency-check" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestJoinAndLeaveThroughPubsub: with a heartbeat that never ticks, a
// replica still learns of a peer joining and of its clean leave, because
// both are announced; the leaver's row is gone.
func TestJoinAndLeaveThroughPubsub(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	a := d.replica(t, replicasync.Options{Interval: never, Hostname: "a", RelayAddress: relay(t)})
	aChanges := changes(a)
	require.Empty(t, a.Peers())

	b := d.replica(t, replicasync.Options{Interval: never, Hostname: "b", RelayAddress: relay(t) + "/"})
	require.Equal(t, []uuid.UUID{a.Self().ID}, []uuid.UUID{b.Peers()[0].ID}, "New returns with the peers already read")
	require.Equal(t, "a", b.Peers()[0].Hostname)
	waitPeers(ctx, t, a, aChanges, b.Self().ID)
	require.NotContains(t, b.Self().RelayAddress, "//derp", "a trailing slash is trimmed")
	require.Len(t, a.All(), 2)
	require.Equal(t, a.Self().ID, a.All()[0].ID, "oldest first")
	require.Empty(t, a.Self().Error)

	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close is idempotent")
	waitPeers(ctx, t, a, aChanges)
	live, err := d.db.ListLiveReplicas(ctx, time.Hour)
	require.NoError(t, err)
	require.Len(t, live, 1)
	require.Equal(t, a.Self().ID, live[0].ID)
}

// TestDeadReplicaGoneAndRemoved: a replica that stops heartbeating without
// a goodbye (a crash) drops out of its peers' view after the timeout, and
// its row is deleted.
func TestDeadReplicaGoneAndRemoved(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	a := d.replica(t, replicasync.Options{Interval: 50 * time.Millisecond, Hostname: "a"})
	aChanges := changes(a)

	// The ghost heartbeats until a has seen it, then never again.
	ghost := database.Replica{ID: uuid.New(), Hostname: "ghost", RegionID: 999, Version: "v0"}
	require.Eventually(t, func() bool {
		if _, _, err := d.db.HeartbeatReplica(ctx, ghost); err != nil {
			t.Log(err)
			return false
		}
		peers := a.Peers()
		return len(peers) == 1 && peers[0].ID == ghost.ID
	}, 30*time.Second, 20*time.Millisecond)
	waitPeers(ctx, t, a, aChanges)
	require.Eventually(t, func() bool {
		live, err := d.db.ListLiveReplicas(ctx, 24*time.Hour)
		return err == nil && len(live) == 1 && live[0].ID == a.Self().ID
	}, 30*time.Second, 20*time.Millisecond, "the dead replica's row is deleted")
}

// TestComesBackAfterRemoval: a replica whose row was deleted (it was cut
// off from the database for longer than the timeout) registers again with
// its original start time, and peers see it again.
func TestComesBackAfterRemoval(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	a := d.replica(t, replicasync.Options{Interval: 50 * time.Millisecond, Hostname: "a"})
	started := a.Self().StartedAt
	require.NoError(t, d.db.DeleteReplica(ctx, a.Self().ID))
	require.Eventually(t, func() bool {
		live, err := d.db.ListLiveReplicas(ctx, time.Hour)
		return err == nil && len(live) == 1 && live[0].ID == a.Self().ID && live[0].StartedAt.Equal(started)
	}, 30*time.Second, 20*time.Millisecond)
}

// TestPeerProblemsReported: a replica reports, in its own row, peers whose
// relay it cannot reach and its own missing relay address when it has
// peers; a reachable relay is no problem.
func TestPeerProblemsReported(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)

	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadRelay := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	a := d.replica(t, replicasync.Options{Interval: never, Hostname: "a", RelayAddress: relay(t)})
	aChanges := changes(a)
	b := d.replica(t, replicasync.Options{Interval: never, Hostname: "b", RelayAddress: deadRelay})
	require.Empty(t, b.Self().Error, "a's relay answers")
	waitPeers(ctx, t, a, aChanges, b.Self().ID)
	require.Contains(t, a.Self().Error, "cannot reach the relay of peers b ("+deadRelay+")")

	c := d.replica(t, replicasync.Options{Interval: never, Hostname: "c"})
	require.Contains(t, c.Self().Error, replicasync.ErrNoRelayAddress)
	require.Contains(t, c.Self().Error, "cannot reach the relay of peers b")
	require.NotContains(t, c.Self().Error, "peers a", "a's relay answers")

	// Peers read the error from the table: b learns of c's problem.
	bChanges := changes(b)
	waitPeers(ctx, t, b, bChanges, a.Self().ID, c.Self().ID)
	for _, p := range b.Peers() {
		if p.ID == c.Self().ID {
			require.Contains(t, p.Error, replicasync.ErrNoRelayAddress)
		}
	}
}

// TestMixedVersions: replicas on different versions are listed as such.
func TestMixedVersions(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	a := d.replica(t, replicasync.Options{Interval: never, Version: "v2.1.0"})
	aChanges := changes(a)
	require.Equal(t, []string{"v2.1.0"}, a.Versions())
	b := d.replica(t, replicasync.Options{Interval: never, Version: "v2.0.0"})
	require.Equal(t, []string{"v2.0.0", "v2.1.0"}, b.Versions())
	waitPeers(ctx, t, a, aChanges, b.Self().ID)
	require.Equal(t, []string{"v2.0.0", "v2.1.0"}, a.Versions())
}

// TestCleanupOnce: however many replicas clean up at once, each dead row
// is deleted (and reported) exactly once.
func TestCleanupOnce(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	for range 3 {
		_, _, err := d.db.HeartbeatReplica(ctx, database.Replica{ID: uuid.New(), Hostname: "ghost", RegionID: 999, Version: "v0"})
		require.NoError(t, err)
	}
	_, err := d.db.Pool().Exec(ctx, `UPDATE replicas SET updated_at = now() - interval '1 hour'`)
	require.NoError(t, err)
	var (
		mu      sync.Mutex
		removed []uuid.UUID
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 5 {
				ids, err := d.db.DeleteSilentReplicas(ctx, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				removed = append(removed, ids...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Len(t, removed, 3)
}

// TestDERPMeshKeyShared: every replica reads the same mesh key, made once.
func TestDERPMeshKeyShared(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	d := newDeployment(t)
	keys := make([]string, 6)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := d.db.EnsureDERPMeshKey(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	require.Len(t, keys[0], 64)
	for _, k := range keys {
		require.Equal(t, keys[0], k)
	}
}
