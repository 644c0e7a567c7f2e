package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/builtinpg"
)

// tcpBalancer is the load balancer in front of the replicas: plain TCP,
// round robin per connection over its backends, skipping one that refuses
// (HTTP, websockets and DERP upgrades pass through untouched).
type tcpBalancer struct {
	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex // guards backends, next, conns, isCut
	backends []string
	next     int
	conns    map[net.Conn]struct{}
	// isCut: every connection is closed as soon as it is accepted (see
	// cut), as a network partition that resets rather than drops would.
	isCut bool
	// unhealthy backends are skipped while another is healthy (see
	// checkHealth).
	unhealthy map[string]bool
	quit      chan struct{} // closed by close, ends checkHealth
}

func newTCPBalancer(t *testing.T, backends ...string) *tcpBalancer {
	t.Helper()
	return newTCPBalancerOn(t, "127.0.0.1:0", backends...)
}

// newTCPBalancerOn listens on listen (host:port) instead of loopback.
func newTCPBalancerOn(t *testing.T, listen string, backends ...string) *tcpBalancer {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	require.NoError(t, err)
	b := &tcpBalancer{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}, unhealthy: map[string]bool{}, quit: make(chan struct{})}
	b.wg.Go(b.accept)
	t.Cleanup(b.close)
	return b
}

func (b *tcpBalancer) url() string { return "http://" + b.ln.Addr().String() }

// addr is the balancer's host:port, e.g. to stand in for a database.
func (b *tcpBalancer) addr() string { return b.ln.Addr().String() }

// cut closes every connection through the balancer and refuses new ones
// (each is closed once accepted) until heal: a partition between its
// clients and backends.
func (b *tcpBalancer) cut() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.isCut = true
	for c := range b.conns {
		_ = c.Close()
	}
}

// heal lets connections through again after cut.
func (b *tcpBalancer) heal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.isCut = false
}

// checkHealth makes the balancer skip backends whose /healthz does not
// answer 200, checked every interval, as a load balancer's health check
// does (connections already established stay). It runs until close.
func (b *tcpBalancer) checkHealth(interval time.Duration) {
	b.wg.Go(func() {
		client := &http.Client{Timeout: 2 * time.Second}
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-b.quit:
				return
			case <-t.C:
			}
			b.mu.Lock()
			backends := append([]string(nil), b.backends...)
			b.mu.Unlock()
			for _, be := range backends {
				healthy := false
				if resp, err := client.Get("http://" + be + "/healthz"); err == nil {
					healthy = resp.StatusCode == http.StatusOK
					_ = resp.Body.Close()
				}
				b.mu.Lock()
				b.unhealthy[be] = !healthy
				b.mu.Unlock()
			}
		}
	})
}

func (b *tcpBalancer) set(backends ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.backends = backends
}

func (b *tcpBalancer) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Go(func() { b.serve(c) })
	}
}

func (b *tcpBalancer) track(c net.Conn, on bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conns == nil || (on && b.isCut) {
		return false
	}
	if on {
		b.conns[c] = struct{}{}
	} else {
		delete(b.conns, c)
	}
	return true
}

func (b *tcpBalancer) serve(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	if b.isCut {
		b.mu.Unlock()
		return
	}
	var backends []string
	for _, be := range b.backends {
		if !b.unhealthy[be] {
			backends = append(backends, be)
		}
	}
	if len(backends) == 0 {
		backends = append(backends, b.backends...)
	}
	start := b.next
	b.next++
	b.mu.Unlock()
	var up net.Conn
	for i := range backends {
		var err error
		if up, err = net.DialTimeout("tcp", backends[(start+i)%len(backends)], time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	if !b.track(c, true) || !b.track(up, true) {
		return
	}
	defer b.track(c, false)
	defer b.track(up, false)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
}

func (b *tcpBalancer) close() {
	close(b.quit)
	_ = b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		_ = c.Close()
	}
	b.conns = nil
	b.mu.Unlock()
	b.wg.Wait()
}

// TestReplicaKilledUnderSSH: three replicas behind a load balancer on one
// PostgreSQL, relayed only. The workspace's agent connects while the
// balancer sends everything to replica A; then B and C join the balancer
// and A is killed with SIGKILL. The agent reconnects through the balancer
// to a survivor, and a new `coder ssh` works again; the test reports how
// long that took.
func TestReplicaKilledUnderSSH(t *testing.T) {
	tfrc := requireToolchain(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: filepath.Join(dir, "postgres"), Fast: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pg.Stop(context.Background()) })

	lb := newTCPBalancer(t)
	env := []string{"TF_CLI_CONFIG_FILE=" + tfrc}
	args := []string{"--access-url", lb.url(), "--stun-address", "disable", "--block-direct-connections"}
	a, urlA := startReplicaProc(t, filepath.Join(dir, "a"), pg.URL(), env, args...)
	_, urlB := startReplicaProc(t, filepath.Join(dir, "b"), pg.URL(), env, args...)
	_, urlC := startReplicaProc(t, filepath.Join(dir, "c"), pg.URL(), env, args...)
	hostA, hostB, hostC := strings.TrimPrefix(urlA, "http://"), strings.TrimPrefix(urlB, "http://"), strings.TrimPrefix(urlC, "http://")
	lb.set(hostA)

	d := &deployment{t: t, url: lb.url(), cliDir: filepath.Join(dir, "cli"), env: append(env, "NO_COLOR=1"), server: a, tfrc: tfrc, workdir: dir}
	d.run("login", lb.url(), "--first-user-username", "admin", "--first-user-email", "admin@example.com", "--first-user-password", "SomePass!234")
	cleanupDocker(t, "admin", "e2e-failover")
	d.run("templates", "push", "docker", "-d", "templates/docker", "-y")
	d.run("create", "e2e-failover", "--template", "docker", "-y")
	t.Cleanup(func() { _, _ = d.try("delete", "e2e-failover", "-y") })
	sshWorks := func(within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		var last string
		for {
			out, err := d.try("ssh", "--connect-timeout", "10s", "e2e-failover", "--", "echo", "alive")
			if err == nil && strings.Contains(out, "alive") {
				return time.Since(start)
			}
			last = fmt.Sprintf("%v\n%s", err, out)
			if time.Since(start) > within {
				t.Fatalf("no ssh within %s; the last try: %s", within, last)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	sshWorks(2 * time.Minute) // the agent is up, on A

	lb.set(hostA, hostB, hostC)
	require.NoError(t, a.cmd.Process.Kill())
	<-a.done
	killed := time.Now()
	lb.set(hostB, hostC)
	took := sshWorks(2 * time.Minute)
	t.Logf("coder ssh works again %s after replica A (holding the agent) was killed with SIGKILL (first successful try took %s)",
		time.Since(killed).Round(100*time.Millisecond), took.Round(100*time.Millisecond))
}
