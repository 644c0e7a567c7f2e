package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// outageProbeTimeout bounds each request the fault tests make while the
// database is away: an answer within it is "not a hang" (the server's own
// bound is the pool's five-second connect timeout, and a refused connection
// fails at once); the figures are logged, never asserted.
const outageProbeTimeout = 30 * time.Second

// probe is one GET of path on base with token (may be empty): the status,
// the body and how long the answer took. A transport error or the probe
// timeout is a failure of the test, since the point is an answer.
func probe(ctx context.Context, t *testing.T, base, path, token string) (int, string, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, outageProbeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set(codersdk.SessionTokenHeader, token)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "GET %s%s gave no answer", base, path)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), time.Since(start)
}

// requireDatabaseDown checks that a replica answers, quickly and clearly,
// that its database is away: /healthz 503 and an authenticated API call
// 503 with the message saying so. It returns the slowest answer.
func requireDatabaseDown(ctx context.Context, t *testing.T, base, token string) time.Duration {
	t.Helper()
	code, body, slowest := probe(ctx, t, base, "/healthz", "")
	require.Equal(t, http.StatusServiceUnavailable, code, "%s/healthz: %s", base, body)
	code, body, took := probe(ctx, t, base, "/api/v2/users/me", token)
	require.Equal(t, http.StatusServiceUnavailable, code, "%s/api/v2/users/me: %s", base, body)
	var res codersdk.Response
	require.NoError(t, json.Unmarshal([]byte(body), &res), body)
	require.Equal(t, httpapi.DatabaseUnavailableMessage, res.Message)
	return max(slowest, took)
}

// serving reports whether a replica answers /healthz and an authenticated
// call with 200 again.
func serving(ctx context.Context, base, token string) bool {
	for _, path := range []string{"/healthz", "/api/v2/users/me"} {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		req.Header.Set(codersdk.SessionTokenHeader, token)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// sshUntil retries `coder ssh ws -- echo alive` through d until it works,
// failing the test after within; it returns how long that took.
func sshUntil(t *testing.T, d *deployment, ws string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		out, err := d.try("ssh", "--connect-timeout", "10s", ws, "--", "echo", "alive")
		if err == nil && strings.Contains(out, "alive") {
			return time.Since(start)
		}
		last = fmt.Sprintf("%v\n%s", err, out)
		if time.Since(start) > within {
			t.Fatalf("no ssh to %s within %s; the last try: %s", ws, within, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func sessionToken(t *testing.T, d *deployment) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.cliDir, "session"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// TestReplicasPostgresRestart: two replicas on one PostgreSQL (A with one
// provisioner daemon, B with none), a Docker workspace reached through B,
// and four template imports queued behind the one daemon. PostgreSQL is
// stopped (a fast shutdown) while one import runs and the rest wait.
// Meanwhile both replicas keep running and answer at once: /healthz and
// the API 503, saying the database is unreachable. PostgreSQL comes back on
// the same address: both replicas serve again without a restart, list each
// other, coordinate again (coder ssh through B to the agent on A), and
// every import ran to success exactly once (one acquisition in its log,
// the running one's start time unchanged).
func TestReplicasPostgresRestart(t *testing.T) {
	tfrc := requireToolchain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pgDir := filepath.Join(dir, "postgres")
	var pg *builtinpg.Server
	// Registered before the replicas', so it runs after they stopped.
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })
	pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: pgDir, Fast: true})
	require.NoError(t, err)
	pgURL, pgPort := pg.URL(), pg.Port()

	env := []string{"TF_CLI_CONFIG_FILE=" + tfrc}
	common := []string{"--stun-address", "127.0.0.1:0"}
	a, urlA := startReplicaProc(t, filepath.Join(dir, "a"), pgURL, env, append(common, "--provisioner-daemons", "1")...)
	b, urlB := startReplicaProc(t, filepath.Join(dir, "b"), pgURL, env, append(common, "--provisioner-daemons", "0")...)
	dA := &deployment{t: t, url: urlA, cliDir: filepath.Join(dir, "cli-a"), env: append(env, "NO_COLOR=1"), server: a, tfrc: tfrc, workdir: dir}
	dA.run("login", urlA, "--first-user-username", "admin", "--first-user-email", "admin@example.com", "--first-user-password", "SomePass!234")
	token := sessionToken(t, dA)
	dB := &deployment{t: t, url: urlB, cliDir: filepath.Join(dir, "cli-b"), env: dA.env, server: b, tfrc: tfrc, workdir: dir}
	dB.run("login", urlB, "--token", token)

	const ws = "e2e-pgrestart"
	cleanupDocker(t, "admin", ws)
	dA.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	dA.run("create", ws, "--template", "docker", "-y")
	t.Cleanup(func() { _, _ = dA.try("delete", ws, "-y") })
	sshUntil(t, dB, ws, 2*time.Minute)

	// Four imports of the template's own file, queued behind the one
	// daemon.
	db, err := pgx.Connect(ctx, pgURL)
	require.NoError(t, err)
	var orgID, fileID, templateID uuid.UUID
	require.NoError(t, db.QueryRow(ctx, `SELECT organization_id, file_id FROM provisioner_jobs ORDER BY created_at LIMIT 1`).Scan(&orgID, &fileID))
	require.NoError(t, db.QueryRow(ctx, `SELECT id FROM templates LIMIT 1`).Scan(&templateID))
	_ = db.Close(ctx)
	client := codersdk.New(mustParse(t, urlB))
	client.SetSessionToken(token)
	var versions []uuid.UUID
	for range 4 {
		v, err := client.CreateTemplateVersion(ctx, orgID, codersdk.CreateTemplateVersionRequest{
			TemplateID: templateID, StorageMethod: "file", FileID: fileID, Provisioner: "terraform",
		})
		require.NoError(t, err)
		versions = append(versions, v.ID)
	}
	// Stop PostgreSQL once the first import runs: one job in flight, three
	// waiting.
	require.Eventually(t, func() bool {
		v, err := client.TemplateVersion(ctx, versions[0])
		return err == nil && v.Job.Status == codersdk.ProvisionerJobRunning
	}, 2*time.Minute, 100*time.Millisecond, "the first import never started")
	before := jobStarts(ctx, t, pgURL, versions)

	require.NoError(t, pg.Stop(ctx))
	stopped := time.Now()
	t.Logf("PostgreSQL stopped (fast shutdown) with jobs %v", before)

	// While it is away, for twice the shared coordinator's suspension
	// time: both replicas answer 503 at once, and keep running.
	var slowest time.Duration
	for time.Since(stopped) < 10*time.Second {
		for _, u := range []string{urlA, urlB} {
			slowest = max(slowest, requireDatabaseDown(ctx, t, u, token))
		}
		time.Sleep(500 * time.Millisecond)
	}
	for name, p := range map[string]*proc{"A": a, "B": b} {
		select {
		case <-p.done:
			t.Fatalf("replica %s exited while the database was away:\n%s", name, p.output())
		default:
		}
	}
	t.Logf("while PostgreSQL was away (%s), every /healthz and API call answered 503 within %s", time.Since(stopped).Round(100*time.Millisecond), slowest.Round(time.Millisecond))

	// The same address again.
	pg, err = builtinpg.Start(ctx, builtinpg.Options{Dir: pgDir, Fast: true, Port: pgPort})
	require.NoError(t, err)
	back := time.Now()
	require.Eventually(t, func() bool { return serving(ctx, urlA, token) && serving(ctx, urlB, token) }, 2*time.Minute, 100*time.Millisecond,
		"the replicas do not serve again after PostgreSQL came back")
	servingAfter := time.Since(back)
	for _, u := range []string{urlA, urlB} {
		c := codersdk.New(mustParse(t, u))
		c.SetSessionToken(token)
		require.Eventually(t, func() bool {
			rs, err := c.Replicas(ctx)
			return err == nil && len(rs) == 2 && noErrors(rs)
		}, 2*time.Minute, 100*time.Millisecond, "%s lists both replicas again", u)
	}
	listedAfter := time.Since(back)
	took := sshUntil(t, dB, ws, 3*time.Minute)
	t.Logf("recovery time after PostgreSQL came back (outage %s): API 200 on both replicas after %s, both list each other after %s, coder ssh through B works after %s (first successful try took %s)",
		back.Sub(stopped).Round(100*time.Millisecond), servingAfter.Round(100*time.Millisecond), listedAfter.Round(100*time.Millisecond),
		time.Since(back).Round(100*time.Millisecond), took.Round(100*time.Millisecond))

	// Every import ran to success, exactly once.
	for _, id := range versions {
		require.Eventually(t, func() bool {
			v, err := client.TemplateVersion(ctx, id)
			return err == nil && v.Job.CompletedAt != nil
		}, 5*time.Minute, 200*time.Millisecond, "import %s never completed", id)
		v, err := client.TemplateVersion(ctx, id)
		require.NoError(t, err)
		require.Equal(t, codersdk.ProvisionerJobSucceeded, v.Job.Status, "import %s: %s", id, v.Job.Error)
	}
	after := jobStarts(ctx, t, pgURL, versions)
	for i, j := range after {
		require.Equal(t, 1, j.acquired, "import %d was acquired %d times", i, j.acquired)
		if before[i].started != nil {
			require.True(t, before[i].started.Equal(*j.started), "import %d was started again: %s, then %s", i, before[i].started, j.started)
		}
	}
	t.Logf("all %d imports succeeded, each acquired once (%d had started before the outage)", len(after), countStarted(before))
}

// jobRun is what the database says of one job's runs.
type jobRun struct {
	started  *time.Time
	acquired int // "Acquired job" lines the daemon logged
}

func (j jobRun) String() string {
	if j.started == nil {
		return "pending"
	}
	return "running"
}

// jobStarts reads, for each template version, its job's start time and how
// many times a daemon logged that it acquired it.
func jobStarts(ctx context.Context, t *testing.T, pgURL string, versions []uuid.UUID) []jobRun {
	t.Helper()
	db, err := pgx.Connect(ctx, pgURL)
	require.NoError(t, err)
	defer db.Close(context.WithoutCancel(ctx))
	out := make([]jobRun, 0, len(versions))
	for _, v := range versions {
		var j jobRun
		require.NoError(t, db.QueryRow(ctx, `
			SELECT j.started_at, (SELECT count(*) FROM provisioner_job_logs l WHERE l.job_id = j.id AND l.output LIKE 'Acquired job by provisioner daemon%')
			FROM template_versions v JOIN provisioner_jobs j ON j.id = v.job_id WHERE v.id = $1`, v).Scan(&j.started, &j.acquired))
		out = append(out, j)
	}
	return out
}

func countStarted(js []jobRun) int {
	n := 0
	for _, j := range js {
		if j.started != nil {
			n++
		}
	}
	return n
}
