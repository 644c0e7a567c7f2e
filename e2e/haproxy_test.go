package e2e_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// haproxy is a real HAProxy (Debian's package, installed by
// scripts/install-postgres.sh) in front of the replicas, run by the test
// as its own foreground process (-db) on a free port. Its backends are
// fixed in the configuration (the replicas' addresses are chosen before
// they start); servers enter and leave the pool through HAProxy's runtime
// API (a unix socket) and its HTTP health checks on /healthz, so it never
// needs a reload.
type haproxy struct {
	t    *testing.T
	addr string // host:port of the frontend
	sock string // the runtime API's unix socket
	cmd  *exec.Cmd
	done chan struct{}

	mu  sync.Mutex // guards log
	log []string   // one line per request (see logFormat)
}

// haproxyBackend is one server line: a name and the replica's address.
// Disabled ones start in maintenance, out of the pool until enabled.
type haproxyBackend struct {
	name, addr string
	disabled   bool
}

// haproxyLogFormat logs, per request: status, retries (a leading + when
// HAProxy redispatched to another server), the server that answered, the
// termination state and the request line.
const haproxyLogFormat = `%ST %rc %s %ts %{+Q}r`

// haproxyConfig is the load balancer of the replica tests: HTTP mode,
// round robin, websockets and DERP upgrades tunnelled (timeout tunnel),
// idempotent requests retried on another server when one refuses the
// connection, closes it without an answer or answers 503 (a replica
// stopping), and health checks every 250 ms on /healthz.
func haproxyConfig(sock, listen string, backends []haproxyBackend) string {
	var b strings.Builder
	fmt.Fprintf(&b, `global
	stats socket %s level admin
	log stdout format raw local0
	maxconn 2000

defaults
	mode http
	log global
	log-format "%s"
	timeout connect 1s
	timeout client 1h
	timeout server 1m
	timeout tunnel 1h
	timeout http-request 10s
	timeout http-keep-alive 10s
	timeout check 1s
	retries 3
	option redispatch 1
	retry-on %s
	option forwardfor

frontend coder
	bind %s
	default_backend replicas

backend replicas
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	default-server check inter 250ms fall 2 rise 1
`, sock, haproxyLogFormat, haproxyRetryOn(), listen)
	for _, s := range backends {
		fmt.Fprintf(&b, "\tserver %s %s", s.name, s.addr)
		if s.disabled {
			b.WriteString(" disabled")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// haproxyRetryOn is HAProxy's retry-on: by default every failure of a
// stopping server; E2E_HAPROXY_RETRY_ON replaces it, e.g. with
// "conn-failure" (HAProxy's own default, no retry of a request a server
// took) to see what a replica's shutdown costs a balancer without L7
// retries.
func haproxyRetryOn() string {
	if v := os.Getenv("E2E_HAPROXY_RETRY_ON"); v != "" {
		return v
	}
	return "conn-failure empty-response response-timeout 503"
}

// startHAProxy writes the configuration and runs HAProxy until the test
// ends (SIGTERM at cleanup). It returns once the frontend accepts.
func startHAProxy(t *testing.T, backends ...haproxyBackend) *haproxy {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		bin = "/usr/sbin/haproxy"
	}
	_, err = os.Stat(bin)
	require.NoError(t, err, "HAProxy is missing: run `make deps` (scripts/install-postgres.sh installs Debian's haproxy)")
	dir := t.TempDir()
	h := &haproxy{t: t, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(freePortOn(t, "127.0.0.1"))),
		sock: filepath.Join(dir, "admin.sock"), done: make(chan struct{})}
	cfg := filepath.Join(dir, "haproxy.cfg")
	require.NoError(t, os.WriteFile(cfg, []byte(haproxyConfig(h.sock, h.addr, backends)), 0o600))
	out, err := exec.Command(bin, "-c", "-f", cfg).CombinedOutput()
	require.NoError(t, err, "haproxy -c:\n%s", out)

	h.cmd = exec.Command(bin, "-f", cfg, "-db")
	stdout, err := h.cmd.StdoutPipe()
	require.NoError(t, err)
	h.cmd.Stderr = h.cmd.Stdout
	require.NoError(t, h.cmd.Start())
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.mu.Lock()
			h.log = append(h.log, sc.Text())
			h.mu.Unlock()
		}
		_ = h.cmd.Wait()
	}()
	t.Cleanup(func() {
		if t.Failed() {
			// What HAProxy captured of requests it refused as malformed.
			errs, _ := h.command("show errors")
			t.Logf("HAProxy's show errors:\n%s", errs)
		}
		_ = h.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			_ = h.cmd.Process.Kill()
			<-h.done
		}
		if t.Failed() {
			lines := h.lines()
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			t.Logf("HAProxy's last log lines:\n%s", strings.Join(lines, "\n"))
		}
	})
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", h.addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}, 30*time.Second, 50*time.Millisecond, "HAProxy does not listen:\n%s", strings.Join(h.lines(), "\n"))
	return h
}

func (h *haproxy) url() string { return "http://" + h.addr }

func (h *haproxy) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.log...)
}

// command sends one command to the runtime API and returns its answer.
func (h *haproxy) command(cmd string) (string, error) {
	c, err := net.DialTimeout("unix", h.sock, 5*time.Second)
	if err != nil {
		return "", fmt.Errorf("haproxy runtime API: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(cmd + "\n")); err != nil {
		return "", fmt.Errorf("haproxy runtime API %q: %w", cmd, err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteString("\n")
	}
	return strings.TrimSpace(b.String()), sc.Err()
}

// setState puts a server in "ready" (in the pool, subject to its health
// checks), "drain" (no new traffic, open connections stay) or "maint".
func (h *haproxy) setState(server, state string) {
	h.t.Helper()
	out, err := h.command(fmt.Sprintf("set server replicas/%s state %s", server, state))
	require.NoError(h.t, err)
	require.Empty(h.t, out, "set server %s state %s", server, state)
}

// up says whether HAProxy sends new requests to the server: in the pool
// and its last health checks passed. `show servers state` has one line
// per server: ... srv_name(4) srv_addr(5) srv_op_state(6) srv_admin_state(7) ...
func (h *haproxy) up(server string) bool {
	out, err := h.command("show servers state replicas")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 7 && f[3] == server {
			admin, err := strconv.Atoi(f[6])
			// SRV_ST_RUNNING, neither in maintenance nor draining. The
			// flag of `disabled` in the configuration (SRV_ADMF_CMAINT,
			// 0x04) stays set once the runtime API made it ready.
			return f[5] == "2" && err == nil && admin&^0x04 == 0
		}
	}
	return false
}

// waitUp waits until HAProxy has the server in its pool.
func (h *haproxy) waitUp(ctx context.Context, server string) {
	h.t.Helper()
	if !assert.Eventually(h.t, func() bool { return ctx.Err() == nil && h.up(server) }, 2*time.Minute, 50*time.Millisecond,
		"HAProxy does not see %s up", server) {
		state, _ := h.command("show servers state replicas")
		h.t.Fatalf("HAProxy's servers:\n%s", state)
	}
}

// retried counts the logged requests HAProxy retried (or redispatched),
// and those it answered itself with an error status: a 5xx with a
// termination state (e.g. SC: the server refused the connection, and
// there was no retry left), not a server's own answer ("--").
func (h *haproxy) retried() (retried, failed int) {
	for _, line := range h.lines() {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(f[1], "+")); err == nil && (n > 0 || strings.HasPrefix(f[1], "+")) {
			retried++
		}
		if len(f) > 3 && strings.HasPrefix(f[0], "5") && f[3] != "--" {
			failed++
		}
	}
	return retried, failed
}
