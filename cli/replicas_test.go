package cli

import (
	"context"
	"encoding/json"
	"strings"
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

// TestReplicasCommand: `coder replicas` lists a running server and a
// second replica on another version (its row written as a rolling
// upgrade's old replica would), says on stderr that versions differ,
// prints JSON with -o json, and tells a member they may not list them.
func TestReplicasCommand(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	pg := dbtestutil.NewDB(t)
	ctxS, stop := context.WithCancel(ctx)
	defer stop()
	s, u := startReplica(ctxS, t, pg, false)
	s.waitFor(t, &s.stderr, "Press Ctrl+C")
	owner := ownerClient(ctx, t, u)

	// The old replica's heartbeat is dated an hour ahead so it stays
	// listed for the test, however slow the machine.
	db, err := database.Open(ctx, pg)
	require.NoError(t, err)
	defer db.Close()
	_, _, err = db.HeartbeatReplica(ctx, database.Replica{ID: uuid.New(), Hostname: "old-host", RegionID: tailnet.EmbeddedRegionID,
		Version: "v0.9.0", RelayAddress: "http://10.0.0.9:3000", Error: "relay http://10.0.0.8:3000 unreachable\nsecond line"})
	require.NoError(t, err)
	_, err = db.Pool().Exec(ctx, `UPDATE replicas SET updated_at = now() + interval '1 hour' WHERE hostname = 'old-host'`)
	require.NoError(t, err)

	e := newEnv(t).loginAs(u, owner.SessionToken())
	require.Eventually(t, func() bool {
		r := e.run("replicas")
		return r.code == 0 && strings.Contains(r.stdout, "old-host")
	}, time.Minute, 50*time.Millisecond)
	r := e.run("replicas")
	require.Zero(t, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	require.Regexp(t, `^HOSTNAME +RELAY ADDRESS +REGION +VERSION +STARTED +DATABASE +ERROR$`, lines[0])
	require.Contains(t, r.stdout, u)
	require.Contains(t, r.stdout, "relay http://10.0.0.8:3000 unreachable")
	require.NotContains(t, r.stdout, "second line", "only an error's first line fits a table row")
	require.Contains(t, r.stderr, "Replicas run different versions (")
	require.Contains(t, r.stderr, "v0.9.0 (1)")

	var listed []codersdk.Replica
	require.NoError(t, json.Unmarshal([]byte(e.ok("replicas", "-o", "json")), &listed))
	require.Len(t, listed, 2)
	require.ElementsMatch(t, []string{u, "http://10.0.0.9:3000"}, []string{listed[0].RelayAddress, listed[1].RelayAddress})

	require.Contains(t, e.fails("replicas", "-o", "yaml"), `unknown output format "yaml"`)

	_, err = owner.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{Email: "member@example.com", Username: "member", Password: "SomePass!234"})
	require.NoError(t, err)
	member := codersdk.New(mustURL(t, u))
	login, err := member.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "member@example.com", Password: "SomePass!234"})
	require.NoError(t, err)
	stderr := newEnv(t).loginAs(u, login.SessionToken).fails("replicas")
	require.Contains(t, stderr, "list replicas")
	require.Contains(t, stderr, "do not have access", "members are told as for any resource they may not see (404)")

	stop()
	require.Zero(t, s.wait(t, ctx), s.stderr.String())
}
