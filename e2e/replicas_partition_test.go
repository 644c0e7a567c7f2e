package e2e_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/codersdk"
)

// TestReplicaPartitioned: three replicas behind a load balancer on one
// PostgreSQL, relayed only; replica A reaches the database through a TCP
// proxy the test can cut. The workspace's agent connects while the
// balancer sends everything to A; then B and C join the balancer and A's
// database path is cut (every connection reset, new ones refused). A keeps
// running but answers 503 rather than stale data, stops coordinating (its
// agent reconnects through the balancer, to a survivor), and the others
// drop it after its heartbeat timeout; a new `coder ssh` works again
// through the balancer. When the cut heals, A registers again, serves,
// and coordinates: `coder ssh` through A alone works. The test logs how
// long ssh took to work after the cut and A to come back after the heal.
func TestReplicaPartitioned(t *testing.T) {
	tfrc := requireToolchain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: filepath.Join(dir, "postgres"), Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	// A's own path to the database, through a proxy that can be cut.
	dbPath := newTCPBalancer(t, pgHostPort(t, pg.URL()))
	urlViaPath := strings.Replace(pg.URL(), pgHostPort(t, pg.URL()), dbPath.addr(), 1)

	lb := newTCPBalancer(t)
	// Like a real load balancer, it stops sending new connections to a
	// replica whose /healthz fails (A's, once cut off).
	lb.checkHealth(250 * time.Millisecond)
	env := []string{"TF_CLI_CONFIG_FILE=" + tfrc}
	args := []string{"--access-url", lb.url(), "--stun-address", "disable", "--block-direct-connections"}
	a, urlA := startReplicaProc(t, filepath.Join(dir, "a"), urlViaPath, env, args...)
	_, urlB := startReplicaProc(t, filepath.Join(dir, "b"), pg.URL(), env, append(args, "--provisioner-daemons", "0")...)
	_, urlC := startReplicaProc(t, filepath.Join(dir, "c"), pg.URL(), env, append(args, "--provisioner-daemons", "0")...)
	hostA, hostB, hostC := strings.TrimPrefix(urlA, "http://"), strings.TrimPrefix(urlB, "http://"), strings.TrimPrefix(urlC, "http://")
	lb.set(hostA)

	d := &deployment{t: t, url: lb.url(), cliDir: filepath.Join(dir, "cli"), env: append(env, "NO_COLOR=1"), server: a, tfrc: tfrc, workdir: dir}
	d.run("login", lb.url(), "--first-user-username", "admin", "--first-user-email", "admin@example.com", "--first-user-password", "SomePass!234")
	token := sessionToken(t, d)
	const ws = "e2e-partition"
	cleanupDocker(t, "admin", ws)
	d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	d.run("create", ws, "--template", "docker", "-y")
	t.Cleanup(func() { _, _ = d.try("delete", ws, "-y") })
	// Runs before the delete: A holds the only provisioner daemon.
	t.Cleanup(dbPath.heal)
	sshUntil(t, d, ws, 2*time.Minute) // the agent is up, on A

	clients := map[string]*codersdk.Client{}
	for _, u := range []string{urlA, urlB, urlC} {
		clients[u] = codersdk.New(mustParse(t, u))
		clients[u].SetSessionToken(token)
		require.Eventually(t, func() bool {
			rs, err := clients[u].Replicas(ctx)
			return err == nil && len(rs) == 3 && noErrors(rs)
		}, time.Minute, 100*time.Millisecond, "%s lists the three replicas", u)
	}
	rs, err := clients[urlB].Replicas(ctx)
	require.NoError(t, err)
	var idA string
	for _, r := range rs {
		if r.RelayAddress == urlA {
			idA = r.ID.String()
		}
	}
	require.NotEmpty(t, idA)

	lb.set(hostA, hostB, hostC)
	dbPath.cut()
	cut := time.Now()

	// A answers at once that its database is away, rather than serving
	// what it last knew.
	slowest := requireDatabaseDown(ctx, t, urlA, token)
	t.Logf("replica A answered 503 within %s of the cut", slowest.Round(time.Millisecond))
	// The survivors drop it after its heartbeat timeout.
	for _, u := range []string{urlB, urlC} {
		require.Eventually(t, func() bool {
			rs, err := clients[u].Replicas(ctx)
			return err == nil && len(rs) == 2 && !strings.Contains(strings.Join(replicaHosts(rs), " "), urlA)
		}, 2*time.Minute, 100*time.Millisecond, "%s still lists the cut-off replica", u)
	}
	dropped := time.Since(cut)
	db, err := pgx.Connect(ctx, pg.URL())
	require.NoError(t, err)
	defer db.Close(context.WithoutCancel(ctx))
	require.Eventually(t, func() bool {
		var n int
		return db.QueryRow(ctx, `SELECT count(*) FROM tailnet_coordinators`).Scan(&n) == nil && n == 2
	}, 2*time.Minute, 100*time.Millisecond, "the cut-off replica's coordinator is removed")

	took := sshUntil(t, d, ws, 3*time.Minute)
	t.Logf("after the cut of A's database path: the survivors dropped A after %s; coder ssh through the balancer works again %s after the cut (first successful try took %s)",
		dropped.Round(100*time.Millisecond), time.Since(cut).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
	// Still cut: A still answers 503, and still runs.
	requireDatabaseDown(ctx, t, urlA, token)
	select {
	case <-a.done:
		t.Fatalf("replica A exited while cut off:\n%s", a.output())
	default:
	}

	dbPath.heal()
	healed := time.Now()
	require.Eventually(t, func() bool { return serving(ctx, urlA, token) }, 2*time.Minute, 100*time.Millisecond, "A does not serve again after the heal")
	servingAfter := time.Since(healed)
	for _, u := range []string{urlA, urlB, urlC} {
		require.Eventually(t, func() bool {
			rs, err := clients[u].Replicas(ctx)
			return err == nil && len(rs) == 3 && noErrors(rs)
		}, 2*time.Minute, 100*time.Millisecond, "%s lists the three replicas again", u)
	}
	listedAfter := time.Since(healed)
	// Coordination through A again: a client on A, the agent on a
	// survivor.
	dA := &deployment{t: t, url: urlA, cliDir: filepath.Join(dir, "cli-a"), env: d.env, server: a, tfrc: tfrc, workdir: dir}
	dA.run("login", urlA, "--token", token)
	tookA := sshUntil(t, dA, ws, 3*time.Minute)
	t.Logf("after the heal: A serves again after %s, all three list each other after %s, coder ssh through A works after %s (first successful try took %s)",
		servingAfter.Round(100*time.Millisecond), listedAfter.Round(100*time.Millisecond), time.Since(healed).Round(100*time.Millisecond), tookA.Round(100*time.Millisecond))
}

// pgHostPort is the host:port of a postgres:// URL.
func pgHostPort(t *testing.T, raw string) string {
	t.Helper()
	return mustParse(t, raw).Host
}
