package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/builtinpg"
)

// lbReplica is one `coder server` behind the load balancer, at an address
// and with a state directory chosen once, so it can stop and start again
// as the same server (a rolling restart).
type lbReplica struct {
	name, addr, dir string
	p               *proc
}

// lbCluster is replicas on one PostgreSQL behind HAProxy, relayed only,
// whose access URL (so the DERP map, the agent's and the CLI's URL) is
// HAProxy's.
type lbCluster struct {
	t        *testing.T
	pg       string
	env      []string
	args     []string
	lb       *haproxy
	replicas map[string]*lbReplica
	d        *deployment // the CLI, through HAProxy
}

// newLBCluster starts PostgreSQL, HAProxy with replicas a, b and c (those
// not in running stay out of its pool, and are not started), the running
// ones, and logs the CLI in through HAProxy.
func newLBCluster(ctx context.Context, t *testing.T, running ...string) *lbCluster {
	t.Helper()
	tfrc := requireToolchain(t)
	dir := t.TempDir()
	pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: filepath.Join(dir, "postgres"), Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })

	c := &lbCluster{t: t, pg: pg.URL(), env: []string{"TF_CLI_CONFIG_FILE=" + tfrc}, replicas: map[string]*lbReplica{}}
	var backends []haproxyBackend
	for _, name := range []string{"a", "b", "c"} {
		r := &lbReplica{name: name, dir: filepath.Join(dir, name),
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePortOn(t, "127.0.0.1")))}
		c.replicas[name] = r
		backends = append(backends, haproxyBackend{name: name, addr: r.addr, disabled: !contains(running, name)})
	}
	c.lb = startHAProxy(t, backends...)
	c.args = []string{"--access-url", c.lb.url(), "--stun-address", "disable", "--block-direct-connections"}
	for _, name := range running {
		c.start(name)
	}
	for _, name := range running {
		c.lb.waitUp(ctx, name)
	}
	c.d = &deployment{t: t, url: c.lb.url(), cliDir: filepath.Join(dir, "cli"), env: append(c.env, "NO_COLOR=1"),
		server: c.replicas[running[0]].p, tfrc: tfrc, workdir: dir}
	c.d.run("login", c.lb.url(), "--first-user-username", "admin", "--first-user-email", "admin@example.com", "--first-user-password", "SomePass!234")
	return c
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// start runs the replica (again) and waits until it answers /healthz
// itself; HAProxy notices by its own checks.
func (c *lbCluster) start(name string) {
	c.t.Helper()
	r := c.replicas[name]
	u := "http://" + r.addr
	args := append([]string{"server", "--global-config", r.dir, "--http-address", r.addr, "--postgres-url", c.pg,
		"--derp-server-relay-url", u, "--replica-heartbeat-interval", replicaInterval.String()}, c.args...)
	r.p = start(c.t, append([]string{"NO_COLOR=1"}, c.env...), args...)
	require.Eventually(c.t, func() bool {
		resp, err := http.Get(u + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 2*time.Minute, 100*time.Millisecond, "replica %s did not come up:\n%s", name, r.p.output())
}

// stop sends SIGTERM and waits for the replica to exit; it returns how
// long that took.
func (c *lbCluster) stop(name string) time.Duration {
	c.t.Helper()
	r := c.replicas[name]
	began := time.Now()
	require.NoError(c.t, r.p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-r.p.done:
	case <-time.After(2 * time.Minute):
		c.t.Fatalf("replica %s did not exit within 2 minutes of SIGTERM:\n%s", name, r.p.output())
	}
	return time.Since(began)
}

// sshEcho waits until a one-shot `coder ssh` works.
func (c *lbCluster) sshEcho(ws string, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		out, err := c.d.try("ssh", "--connect-timeout", "20s", ws, "--", "echo", "alive")
		if err == nil && strings.Contains(out, "alive") {
			return
		}
		last = fmt.Sprintf("%v\n%s", err, out)
		if time.Now().After(deadline) {
			c.t.Fatalf("no ssh to %s within %s; the last try: %s", ws, within, last)
		}
		time.Sleep(time.Second)
	}
}

// echoLoop is an interactive session kept busy: a long-running
// `coder ssh WS -- cat` fed a numbered line every interval, whose lines
// come back on its stdout. If the session dies, a new one is started (and
// counted); the longest wait between two echoed lines is the longest
// interruption the user of the session saw.
type echoLoop struct {
	d        *deployment
	ws       string
	interval time.Duration

	mu       sync.Mutex // guards quiet and the figures below
	quiet    bool       // stop writing lines (the echoes are still read)
	sent     int
	echoed   int
	outOfOrd int
	sessions int
	deaths   []string // how each ended session ended
	last     time.Time
	longest  time.Duration
	longestW time.Time // when the longest interruption ended
	maxLag   time.Duration
}

type echoFigures struct {
	sent, echoed, outOfOrder, sessions int
	deaths                             []string
	longest, maxLag                    time.Duration
	longestEnded                       time.Time
}

func (e *echoLoop) figures() echoFigures {
	e.mu.Lock()
	defer e.mu.Unlock()
	return echoFigures{sent: e.sent, echoed: e.echoed, outOfOrder: e.outOfOrd, sessions: e.sessions,
		deaths: append([]string(nil), e.deaths...), longest: e.longest, maxLag: e.maxLag, longestEnded: e.longestW}
}

// run feeds sessions until ctx ends. Its caller owns it (runs it in a
// goroutine it waits for).
func (e *echoLoop) run(ctx context.Context) {
	sentAt := map[int]time.Time{}
	next, expect := 0, 0
	for ctx.Err() == nil {
		cmd := exec.Command(coderBin, "--global-config", e.d.cliDir, "ssh", e.ws, "--", "cat")
		cmd.Env = append(os.Environ(), e.d.env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		stdin, err1 := cmd.StdinPipe()
		stdout, err2 := cmd.StdoutPipe()
		if err1 != nil || err2 != nil || cmd.Start() != nil {
			return
		}
		e.mu.Lock()
		e.sessions++
		e.mu.Unlock()
		lines := make(chan string)
		go func() { // ends at EOF: when the process exits
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// A new session starts after the lines the previous one lost.
		expect = next
		ended := e.feed(ctx, stdin, lines, sentAt, &next, &expect)
		_ = stdin.Close()
		if !ended {
			_ = cmd.Process.Kill()
		}
		for range lines { // drain until EOF
		}
		err := cmd.Wait()
		if ctx.Err() == nil {
			e.mu.Lock()
			e.deaths = append(e.deaths, fmt.Sprintf("%s: %v: %s", time.Now().Format("15:04:05.000"), err, lastLines(stderr.String(), 3)))
			e.mu.Unlock()
		}
	}
}

// feed writes a line every interval and takes the echoes, until ctx ends
// (false) or the session does (true).
func (e *echoLoop) feed(ctx context.Context, stdin io.Writer, lines <-chan string, sentAt map[int]time.Time, next, expect *int) bool {
	tick := time.NewTicker(e.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
			e.mu.Lock()
			quiet := e.quiet
			e.mu.Unlock()
			if quiet {
				continue
			}
			sentAt[*next] = time.Now()
			if _, err := fmt.Fprintf(stdin, "line-%d\n", *next); err != nil {
				return true
			}
			*next++
			e.mu.Lock()
			e.sent++
			e.mu.Unlock()
		case l, ok := <-lines:
			if !ok {
				return true
			}
			now := time.Now()
			n, err := strconv.Atoi(strings.TrimPrefix(l, "line-"))
			e.mu.Lock()
			if err != nil || n != *expect {
				e.outOfOrd++
			}
			if err == nil {
				*expect = n + 1
				if lag := now.Sub(sentAt[n]); lag > e.maxLag {
					e.maxLag = lag
				}
				delete(sentAt, n)
			}
			e.echoed++
			if !e.last.IsZero() && now.Sub(e.last) > e.longest {
				e.longest, e.longestW = now.Sub(e.last), now
			}
			e.last = now
			e.mu.Unlock()
		}
	}
}

// hush stops writing lines; the session stays open.
func (e *echoLoop) hush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.quiet = true
}

// waitEchoes waits until at least n lines came back.
func (e *echoLoop) waitEchoes(t *testing.T, n int, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return e.figures().echoed >= n }, within, 50*time.Millisecond,
		"the session echoes no lines: %+v", e.figures())
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}
