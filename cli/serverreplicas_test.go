package cli

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/testutil"
)

// freeLoopbackURL reserves nothing: it finds a port free right now, for a
// server whose relay URL must name its port before it listens.
func freeLoopbackURL(t *testing.T) (addr, u string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr = l.Addr().String()
	require.NoError(t, l.Close())
	return addr, "http://" + addr
}

// startReplica runs `coder server` in-process on pg as one replica, with
// its own address as the relay URL unless noRelay.
func startReplica(ctx context.Context, t *testing.T, pg string, noRelay bool) (*invocation, string) {
	t.Helper()
	addr, u := freeLoopbackURL(t)
	args := []string{"server", "--http-address", addr, "--stun-address", "disable", "--provisioner-daemons", "0",
		"--postgres-url", pg, "--replica-heartbeat-interval", "200ms"}
	if !noRelay {
		args = append(args, "--derp-server-relay-url", u)
	}
	return newEnv(t).start(ctx, nil, args...), u
}

// TestServerReplicas: two `coder server`s on one database see each other
// in GET /api/v2/replicas from either one, their DERP servers mesh (a
// packet from a node on one reaches a node on the other), a third without
// --derp-server-relay-url is refused, and a replica that stops leaves the
// list at once.
func TestServerReplicas(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	pg := dbtestutil.NewDB(t)

	ctxA, stopA := context.WithCancel(ctx)
	defer stopA()
	a, urlA := startReplica(ctxA, t, pg, false)
	a.waitFor(t, &a.stderr, "Press Ctrl+C")
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	b, urlB := startReplica(ctxB, t, pg, false)
	b.waitFor(t, &b.stderr, "Press Ctrl+C")

	refused, _ := startReplica(ctx, t, pg, true)
	require.Equal(t, 1, refused.wait(t, ctx))
	require.Contains(t, refused.stderr.String(), "2 other coderd replicas are running on this database")
	require.Contains(t, refused.stderr.String(), "--derp-server-relay-url (CODER_DERP_SERVER_RELAY_URL)")

	clientA := ownerClient(ctx, t, urlA)
	clientB := codersdk.New(mustURL(t, urlB))
	clientB.SetSessionToken(clientA.SessionToken())
	for _, c := range []*codersdk.Client{clientA, clientB} {
		// A replica may briefly report a peer it probed before that peer
		// served HTTP; the next heartbeat clears it.
		require.Eventually(t, func() bool {
			rs, err := c.Replicas(ctx)
			return err == nil && len(rs) == 2 && rs[0].Error == "" && rs[1].Error == ""
		}, time.Minute, 50*time.Millisecond, "%s lists both replicas, without errors", c.URL)
		rs, err := c.Replicas(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{urlA, urlB}, []string{rs[0].RelayAddress, rs[1].RelayAddress})
		for _, r := range rs {
			require.Empty(t, r.Error, "replica %s", r.RelayAddress)
			require.Equal(t, int32(tailnet.EmbeddedRegionID), r.RegionID)
		}
		require.False(t, codersdk.MixedVersions(rs))
	}

	// Each replica's coordinator is shared through the database.
	db, err := database.Open(ctx, pg)
	require.NoError(t, err)
	defer db.Close()
	coordinators := func() int {
		var n int
		require.NoError(t, db.Pool().QueryRow(ctx, `SELECT count(*) FROM tailnet_coordinators`).Scan(&n))
		return n
	}
	require.Equal(t, 2, coordinators())

	// The mesh: nodes homed on different replicas reach each other.
	require.NoError(t, tailnet.CheckDERPRelay(ctx, urlA, urlB, nil))
	require.NoError(t, tailnet.CheckDERPRelay(ctx, urlB, urlA, nil))

	// A stopped replica leaves the list (announced; replicasync's tests
	// prove that the announcement, not the timeout, removes it).
	stopB()
	require.Zero(t, b.wait(t, ctx), b.stderr.String())
	require.Eventually(t, func() bool {
		rs, err := clientA.Replicas(ctx)
		return err == nil && len(rs) == 1 && rs[0].RelayAddress == urlA
	}, time.Minute, 20*time.Millisecond)
	require.Equal(t, 1, coordinators(), "B removed its coordinator on the way out")

	stopA()
	require.Zero(t, a.wait(t, ctx), a.stderr.String())
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}

// ownerClient creates the first user on the deployment at u and returns a
// client logged in as them.
func ownerClient(ctx context.Context, t *testing.T, u string) *codersdk.Client {
	t.Helper()
	c := codersdk.New(mustURL(t, u))
	_, err := c.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{Email: "admin@example.com", Username: "admin", Password: "SomePass!234"})
	require.NoError(t, err)
	login, err := c.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: "SomePass!234"})
	require.NoError(t, err)
	c.SetSessionToken(login.SessionToken)
	return c
}

// TestServerRestartAfterCrash: a lone server restarted right after a
// crash finds its predecessor's row, still fresh; it waits for the row to
// time out instead of refusing to start for want of a relay URL.
func TestServerRestartAfterCrash(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	pg := dbtestutil.NewDB(t)
	db, err := database.Open(ctx, pg)
	require.NoError(t, err)
	defer db.Close()
	// The predecessor's last heartbeat, just before it was killed: dated
	// two seconds ahead, so it is still fresh however slowly the new
	// server starts, and without the wait the server would be refused.
	_, _, err = db.HeartbeatReplica(ctx, database.Replica{ID: uuid.New(), Hostname: "crashed", RegionID: tailnet.EmbeddedRegionID, Version: "v0"})
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `UPDATE replicas SET updated_at = now() + interval '2 seconds'`)
	require.NoError(t, err)

	ctxS, stop := context.WithCancel(ctx)
	defer stop()
	s, u := startReplica(ctxS, t, pg, true)
	s.waitFor(t, &s.stderr, "Press Ctrl+C")
	rs, err := ownerClient(ctx, t, u).Replicas(ctx)
	require.NoError(t, err)
	require.Len(t, rs, 1)
	require.Empty(t, rs[0].RelayAddress)
	stop()
	require.Zero(t, s.wait(t, ctx), s.stderr.String())
}

// TestServerRelayURLFlag: a malformed relay URL stops start-up, naming the
// flag.
func TestServerRelayURLFlag(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.5:3000", "http://10.0.0.5:3000/derp", "https://10.0.0.5"} {
		e := newEnv(t)
		stderr := e.fails("server", "--http-address", "127.0.0.1:0", "--stun-address", "disable", "--provisioner-daemons", "0",
			"--postgres-url", dbtestutil.NewDB(t), "--derp-server-relay-url", bad)
		require.Contains(t, stderr, fmt.Sprintf("--derp-server-relay-url %q", bad))
	}
}
