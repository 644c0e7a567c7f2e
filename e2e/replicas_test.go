package e2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
)

// replicaInterval is the replicas' heartbeat in this test: a killed one
// is gone after three of them.
const replicaInterval = 500 * time.Millisecond

// startReplicaProc runs `coder server` as a separate process, one replica
// with its own address as relay URL, on pg (empty: the built-in
// PostgreSQL under dir), with env and extra arguments. It returns the
// process and its URL once it answers /healthz.
func startReplicaProc(t *testing.T, dir, pg string, env []string, extra ...string) (*proc, string) {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(freePortOn(t, "127.0.0.1")))
	u := "http://" + addr
	args := []string{"server", "--global-config", dir, "--http-address", addr,
		"--derp-server-relay-url", u, "--replica-heartbeat-interval", replicaInterval.String()}
	if pg != "" {
		args = append(args, "--postgres-url", pg)
	}
	p := start(t, append([]string{"NO_COLOR=1"}, env...), append(args, extra...)...)
	require.Eventually(t, func() bool {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 2*time.Minute, 100*time.Millisecond, "replica did not come up:\n%s", p.output())
	return p, u
}

func replicaHosts(rs []codersdk.Replica) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.RelayAddress)
	}
	return out
}

// TestReplicasSurviveKill: three `coder server` processes on one
// PostgreSQL list each other from any of them and relay DERP packets
// between nodes homed on different replicas; one killed with SIGKILL
// (no goodbye) drops out of the others' lists after its timeout and
// leaves no row behind (registry or shared coordinator), and the
// survivors still relay between them.
func TestReplicasSurviveKill(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	// A holds the built-in PostgreSQL; B and C share it.
	lone := []string{"--stun-address", "disable", "--provisioner-daemons", "0"}
	_, urlA := startReplicaProc(t, filepath.Join(dir, "a"), "", nil, lone...)
	pg := builtinPostgresURL(ctx, t, filepath.Join(dir, "a"))
	_, urlB := startReplicaProc(t, filepath.Join(dir, "b"), pg, nil, lone...)
	c, urlC := startReplicaProc(t, filepath.Join(dir, "c"), pg, nil, lone...)

	owner := codersdk.New(mustParse(t, urlA))
	_, err := owner.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{Email: "admin@example.com", Username: "admin", Password: "SomePass!234"})
	require.NoError(t, err)
	login, err := owner.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: "SomePass!234"})
	require.NoError(t, err)
	clients := map[string]*codersdk.Client{}
	for _, u := range []string{urlA, urlB, urlC} {
		clients[u] = codersdk.New(mustParse(t, u))
		clients[u].SetSessionToken(login.SessionToken)
	}
	var cID string
	for u, cl := range clients {
		// A replica may briefly report a peer it probed before that peer
		// served HTTP; the next heartbeat clears it.
		require.Eventually(t, func() bool {
			rs, err := cl.Replicas(ctx)
			return err == nil && len(rs) == 3 && noErrors(rs)
		}, time.Minute, 50*time.Millisecond, "%s lists the three replicas, without errors", u)
		rs, err := cl.Replicas(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{urlA, urlB, urlC}, replicaHosts(rs))
		for _, r := range rs {
			require.Empty(t, r.Error, "%s reports about %s", u, r.RelayAddress)
			if r.RelayAddress == urlC {
				cID = r.ID.String()
			}
		}
	}
	for _, pair := range [][2]string{{urlA, urlB}, {urlB, urlC}, {urlC, urlA}} {
		require.NoError(t, tailnet.CheckDERPRelay(ctx, pair[0], pair[1], nil), "relay %s -> %s", pair[0], pair[1])
	}

	// SIGKILL: no goodbye, so the others notice by the heartbeat timeout.
	require.NoError(t, c.cmd.Process.Kill())
	<-c.done
	killed := time.Now()
	for _, u := range []string{urlA, urlB} {
		require.Eventually(t, func() bool {
			rs, err := clients[u].Replicas(ctx)
			return err == nil && len(rs) == 2
		}, time.Minute, 20*time.Millisecond, "%s still lists the killed replica", u)
		rs, err := clients[u].Replicas(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{urlA, urlB}, replicaHosts(rs))
	}
	gone := time.Since(killed)
	t.Logf("the killed replica left both lists %s after SIGKILL (heartbeat %s, timeout %s)", gone.Round(10*time.Millisecond), replicaInterval, 3*replicaInterval)

	db, err := pgx.Connect(ctx, pg)
	require.NoError(t, err)
	defer db.Close(context.WithoutCancel(ctx))
	require.Eventually(t, func() bool {
		var n int
		return db.QueryRow(ctx, `SELECT count(*) FROM replicas WHERE id = $1`, cID).Scan(&n) == nil && n == 0
	}, time.Minute, 50*time.Millisecond, "the killed replica's row is deleted")
	// Its shared coordinator (coderd/coordpg, on its own heartbeat) goes
	// too: one coordinator row per surviving replica.
	require.Eventually(t, func() bool {
		var n int
		return db.QueryRow(ctx, `SELECT count(*) FROM tailnet_coordinators`).Scan(&n) == nil && n == 2
	}, time.Minute, 50*time.Millisecond, "the killed replica's coordinator is deleted")
	t.Logf("nothing of the killed replica is left in the database %s after SIGKILL", time.Since(killed).Round(10*time.Millisecond))

	require.NoError(t, tailnet.CheckDERPRelay(ctx, urlA, urlB, nil), "the survivors still relay")
	require.NoError(t, tailnet.CheckDERPRelay(ctx, urlB, urlA, nil), "the survivors still relay")
}

// builtinPostgresURL is the URL of the built-in PostgreSQL of the server
// whose config directory is dir.
func builtinPostgresURL(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, coderBin, "server", "postgres-builtin-url", "--raw-url", "--config-dir", dir).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

// TestReplicasCrossReplicaSSH: a Docker workspace's agent connects to
// replica A (which built it), `coder ssh` goes through replica B, and the
// deployment relays only (--block-direct-connections): the client and
// the agent coordinate through different replicas (the shared
// coordinator) and their packets cross the DERP mesh (the client's home
// relay is B's, the agent's A's).
func TestReplicasCrossReplicaSSH(t *testing.T) {
	tfrc := requireToolchain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	env := []string{"TF_CLI_CONFIG_FILE=" + tfrc}
	relayed := []string{"--stun-address", "127.0.0.1:0", "--block-direct-connections"}
	a, urlA := startReplicaProc(t, filepath.Join(dir, "a"), "", env, relayed...)
	dA := &deployment{t: t, url: urlA, cliDir: filepath.Join(dir, "cli-a"), env: append(env, "NO_COLOR=1"), server: a, tfrc: tfrc, workdir: dir}
	dA.run("login", urlA, "--first-user-username", "admin", "--first-user-email", "admin@example.com", "--first-user-password", "SomePass!234")
	b, urlB := startReplicaProc(t, filepath.Join(dir, "b"), builtinPostgresURL(ctx, t, filepath.Join(dir, "a")), env,
		append(relayed, "--provisioner-daemons", "0")...)
	dB := &deployment{t: t, url: urlB, cliDir: filepath.Join(dir, "cli-b"), env: dA.env, server: b, tfrc: tfrc, workdir: dir}
	token, err := os.ReadFile(filepath.Join(dA.cliDir, "session"))
	require.NoError(t, err)
	dB.run("login", urlB, "--token", strings.TrimSpace(string(token)))

	cleanupDocker(t, "admin", "e2e-replicas")
	dA.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	dA.run("create", "e2e-replicas", "--template", "docker", "-y")
	t.Cleanup(func() { _, _ = dA.try("delete", "e2e-replicas", "-y") })

	var last string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := dB.try("ssh", "--connect-timeout", "20s", "e2e-replicas", "--", "echo", "through-b")
		if err == nil && strings.Contains(out, "through-b") {
			break
		}
		last = fmt.Sprintf("%v\n%s", err, out)
		if time.Now().After(deadline) {
			t.Fatalf("no ssh through replica B within 2 minutes; the last try: %s", last)
		}
		time.Sleep(time.Second)
	}
	// The path is the relay: B's DERP server, meshed to A's, where the
	// agent's DERP connection is.
	ping := dB.run("ping", "e2e-replicas", "-n", "3")
	require.Contains(t, ping, "via DERP region 999")
	require.NotContains(t, ping, "p2p")
	require.Contains(t, ping, "3 received")
	// And through A, where the agent is, for comparison.
	require.Contains(t, dA.run("ssh", "e2e-replicas", "--", "echo", "through-a"), "through-a")
}

func noErrors(rs []codersdk.Replica) bool {
	for _, r := range rs {
		if r.Error != "" {
			return false
		}
	}
	return true
}

func mustParse(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u
}
