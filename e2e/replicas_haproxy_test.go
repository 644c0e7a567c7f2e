package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

// TestReplicasBehindHAProxy: three replicas on one PostgreSQL behind a
// real HAProxy (round robin, health checks on /healthz), relayed only.
// The workspace's agent connects while HAProxy sends everything to
// replica A; then A leaves the pool for new connections (its open ones
// stay) and B enters it, so `coder ssh` coordinates through B and its
// packets cross the DERP mesh to the agent on A. An interactive session
// (`coder ssh WS -- cat`, fed a line every 100 ms) keeps every line while
// replica C starts, joins the pool and serves requests.
func TestReplicasBehindHAProxy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c := newLBCluster(ctx, t, "a")
	c.start("b") // registered and meshed, out of HAProxy's pool for now

	const ws = "e2e-haproxy"
	cleanupDocker(t, "admin", ws)
	c.d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	c.d.run("create", ws, "--template", "docker", "-y")
	t.Cleanup(func() { _, _ = c.d.try("delete", ws, "-y") })
	c.sshEcho(ws, 2*time.Minute) // the agent is up, on A

	// New connections go to B only; the agent's stay on A.
	c.lb.setState("a", "drain")
	c.lb.setState("b", "ready")
	c.lb.waitUp(ctx, "b")
	c.sshEcho(ws, 2*time.Minute)
	ping := c.d.run("ping", ws, "-n", "3")
	require.Contains(t, ping, "via DERP region 999")
	require.NotContains(t, ping, "p2p")
	require.Contains(t, ping, "3 received")
	c.lb.setState("a", "ready")
	c.lb.waitUp(ctx, "a")

	echo := &echoLoop{d: c.d, ws: ws, interval: 100 * time.Millisecond}
	ectx, ecancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { echo.run(ectx) })
	defer func() { ecancel(); wg.Wait() }()
	echo.waitEchoes(t, 10, 2*time.Minute)
	time.Sleep(2 * time.Second)

	began := time.Now()
	c.start("c")
	c.lb.setState("c", "ready")
	c.lb.waitUp(ctx, "c")
	joined := time.Now()
	// C serves: requests through HAProxy reach it.
	client := codersdk.New(mustParse(t, c.lb.url()))
	client.SetSessionToken(c.token())
	require.Eventually(t, func() bool {
		_, _ = client.Replicas(ctx)
		return c.lb.servedBy()["c"] > 0
	}, time.Minute, 50*time.Millisecond, "HAProxy sends nothing to C")
	require.Eventually(t, func() bool {
		rs, err := client.Replicas(ctx)
		return err == nil && len(rs) == 3 && noErrors(rs)
	}, time.Minute, 100*time.Millisecond, "the replicas list has the three, without errors")
	time.Sleep(5 * time.Second) // the session goes on with C in the mesh and the pool

	echo.hush()
	sent := echo.figures().sent
	require.Eventually(t, func() bool { return echo.figures().echoed >= sent }, time.Minute, 50*time.Millisecond,
		"lines lost: %+v", echo.figures())
	f := echo.figures()
	require.Equal(t, 1, f.sessions, "the session died: %v", f.deaths)
	require.Zero(t, f.outOfOrder)
	require.Equal(t, f.sent, f.echoed)
	t.Logf("interactive session across C joining: %d lines, all echoed in order, one session; slowest echo %s, longest silence %s; "+
		"C started and in HAProxy's pool in %s, the session ran %s after",
		f.sent, f.maxLag.Round(time.Millisecond), f.longest.Round(time.Millisecond), joined.Sub(began).Round(100*time.Millisecond),
		time.Since(joined).Round(100*time.Millisecond))
}

// TestReplicasRollingRestart: three replicas behind HAProxy under a
// steady load (GET /api/v2/users/me and /api/v2/workspaces through HAProxy
// every 50 ms) and an interactive session fed a line every 100 ms; each
// replica in turn gets SIGTERM, exits and starts again on the same address
// and state. The test reports the failed requests, by kind, the longest
// gap in successful answers, and the longest interruption of the session
// (and whether it had to start a new `coder ssh`); it asserts that the
// deployment works after the roll, never timings.
func TestReplicasRollingRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c := newLBCluster(ctx, t, "a", "b", "c")

	const ws = "e2e-rolling"
	cleanupDocker(t, "admin", ws)
	c.d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	c.d.run("create", ws, "--template", "docker", "-y")
	c.sshEcho(ws, 2*time.Minute)

	lctx, lcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { lcancel(); wg.Wait() }()
	load := &apiLoad{url: c.lb.url(), token: c.token(), interval: 50 * time.Millisecond}
	wg.Go(func() { load.run(lctx) })
	echo := &echoLoop{d: c.d, ws: ws, interval: 100 * time.Millisecond}
	wg.Go(func() { echo.run(lctx) })
	echo.waitEchoes(t, 10, 2*time.Minute)
	time.Sleep(2 * time.Second)

	rolled := time.Now()
	for _, name := range []string{"a", "b", "c"} {
		took := c.stop(name)
		c.start(name)
		c.lb.waitUp(ctx, name)
		t.Logf("replica %s: exited %s after SIGTERM; back in HAProxy's pool %s after SIGTERM",
			name, took.Round(100*time.Millisecond), time.Since(rolled).Round(100*time.Millisecond))
		time.Sleep(3 * time.Second)
		rolled = time.Now()
	}
	// The session goes on after the roll: wait for new echoes.
	echoed := echo.figures().echoed
	echo.waitEchoes(t, echoed+20, 2*time.Minute)
	lcancel()
	wg.Wait()

	l, f := load.figures(), echo.figures()
	retried, lbFailed := c.lb.retried()
	t.Logf("API load through HAProxy: %d requests, %d failed %v; longest gap between successful answers %s; "+
		"HAProxy retried or redispatched %d requests (answered %d itself with 5xx)",
		l.requests, l.failed, l.kinds, l.longestGap.Round(time.Millisecond), retried, lbFailed)
	t.Logf("interactive session: %d lines sent, %d echoed, %d sessions (`coder ssh` restarted %d times: %v); "+
		"longest interruption %s (ended %s), slowest echo %s",
		f.sent, f.echoed, f.sessions, f.sessions-1, f.deaths, f.longest.Round(time.Millisecond),
		f.longestEnded.Format("15:04:05.000"), f.maxLag.Round(time.Millisecond))

	// Correct after the roll: the registry lists three live replicas, a
	// new session works, and the workspace can be deleted (a build on a
	// restarted replica's provisioner).
	client := codersdk.New(mustParse(t, c.lb.url()))
	client.SetSessionToken(c.token())
	require.Eventually(t, func() bool {
		rs, err := client.Replicas(ctx)
		return err == nil && len(rs) == 3 && noErrors(rs)
	}, time.Minute, 100*time.Millisecond, "the replicas list has the three, without errors")
	c.sshEcho(ws, 2*time.Minute)
	require.Contains(t, c.d.run("ping", ws, "-n", "2"), "2 received")
	c.d.run("delete", ws, "-y")
}

func (c *lbCluster) token() string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.d.cliDir, "session"))
	require.NoError(c.t, err)
	return strings.TrimSpace(string(b))
}

// servedBy counts the requests each server answered, from HAProxy's log.
func (h *haproxy) servedBy() map[string]int {
	n := map[string]int{}
	for _, line := range h.lines() {
		if f := strings.Fields(line); len(f) > 2 {
			n[f[2]]++
		}
	}
	return n
}

// apiLoad is a steady load of API reads through the load balancer,
// counting failures by kind and the longest gap between successes.
type apiLoad struct {
	url, token string
	interval   time.Duration

	mu         sync.Mutex // guards the figures
	requests   int
	failed     int
	kinds      map[string]int
	last       time.Time
	longestGap time.Duration
}

type loadFigures struct {
	requests, failed int
	kinds            map[string]int
	longestGap       time.Duration
}

func (l *apiLoad) figures() loadFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	kinds := map[string]int{}
	for k, v := range l.kinds {
		kinds[k] = v
	}
	return loadFigures{requests: l.requests, failed: l.failed, kinds: kinds, longestGap: l.longestGap}
}

// run sends requests until ctx ends; its caller owns it.
func (l *apiLoad) run(ctx context.Context) {
	client := &http.Client{Timeout: 30 * time.Second}
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	paths := []string{"/api/v2/users/me", "/api/v2/workspaces"}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			client.CloseIdleConnections()
			return
		case <-tick.C:
		}
		kind := l.get(ctx, client, paths[i%len(paths)])
		if ctx.Err() != nil {
			return // a request cut short by the end of the test is no failure
		}
		now := time.Now()
		l.mu.Lock()
		l.requests++
		if kind != "" {
			l.failed++
			if l.kinds == nil {
				l.kinds = map[string]int{}
			}
			l.kinds[kind]++
		} else {
			if !l.last.IsZero() && now.Sub(l.last) > l.longestGap {
				l.longestGap = now.Sub(l.last)
			}
			l.last = now
		}
		l.mu.Unlock()
	}
}

// get returns "" on success, or the kind of failure.
func (l *apiLoad) get(ctx context.Context, client *http.Client, path string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url+path, nil)
	if err != nil {
		return "request: " + err.Error()
	}
	req.Header.Set(codersdk.SessionTokenHeader, l.token)
	resp, err := client.Do(req)
	if err != nil {
		return "transport: " + errKind(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "body: " + errKind(err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%s %d", path, resp.StatusCode)
	}
	return ""
}

// errKind keeps the last part of an error (the cause), so failures of
// one kind group together whatever address they name.
func errKind(err error) string {
	parts := strings.Split(err.Error(), ": ")
	return parts[len(parts)-1]
}
