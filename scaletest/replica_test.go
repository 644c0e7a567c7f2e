package scaletest_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/testutil"
)

// coderBinary builds the coder binary once per test process, on first
// use: only the benchmark needs it, and `go test ./scaletest` without
// -bench should not pay for the link.
// TestMain removes its directory (binDir) after the run.
var coderBinary = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "coder-scaletest-bin-")
	if err != nil {
		return "", err
	}
	binDir.Store(&dir)
	bin := filepath.Join(dir, "coder")
	cmd := exec.Command("go", "build", "-tags", testutil.BuildTags, "-o", bin, "./cmd/coder")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build coder: %w\n%s", err, out)
	}
	return bin, nil
})

// binDir is the directory of the built binary, once built.
var binDir atomic.Pointer[string]

// tail keeps the last bytes a process wrote (its log), for failures.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 128<<10; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// replicaProc is one `coder server` process on the shared database.
type replicaProc struct {
	url  *url.URL
	cmd  *exec.Cmd
	log  *tail
	done chan struct{}
}

// startReplica runs `coder server` on dbURL as a replica whose relay URL
// is its own address: no built-in provisioners (the benchmark is the
// daemon, with the test PSK), no STUN server (nothing dials a node). It
// returns once /healthz answers; the process is stopped (SIGTERM) at the
// end of the test.
func startReplica(tb testing.TB, bin, dbURL string) *replicaProc {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	require.NoError(tb, l.Close())
	u, err := url.Parse("http://" + addr)
	require.NoError(tb, err)
	r := &replicaProc{url: u, log: &tail{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "server", "--global-config", tb.TempDir(), "--http-address", addr, "--postgres-url", dbURL,
		"--derp-server-relay-url", u.String(), "--stun-address", "disable", "--provisioner-daemons", "0",
		"--provisioner-daemon-psk", coderdtest.TestPSK)
	r.cmd.Env = append(os.Environ(), "NO_COLOR=1")
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	require.NoError(tb, r.cmd.Start())
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	tb.Cleanup(func() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(time.Minute):
			_ = r.cmd.Process.Kill()
			<-r.done
		}
		if tb.Failed() {
			tb.Logf("log of the replica at %s (last 128 KiB):\n%s", u, r.log.String())
		}
	})
	require.Eventually(tb, func() bool {
		resp, err := http.Get(u.String() + "/healthz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 2*time.Minute, 100*time.Millisecond, "the replica at %s did not come up:\n%s", u, r.log.String())
	return r
}

// rssMiB is the process's resident set size.
func (r *replicaProc) rssMiB() float64 {
	return procRSSMiB(r.cmd.Process.Pid)
}

// procRSSMiB reads VmRSS from /proc (0 when unreadable).
func procRSSMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// raiseFileLimit lifts this process's soft limit on open files to the hard
// one: the fleet holds a websocket per agent, and the replicas, started
// from here, inherit the limit. It returns the limit in force.
func raiseFileLimit(tb testing.TB) uint64 {
	tb.Helper()
	var lim syscall.Rlimit
	require.NoError(tb, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Logf("raise the open-file limit to %d: %v", lim.Max, err)
			_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	return lim.Cur
}

// waitReplicas waits until every replica lists n replicas.
func waitReplicas(ctx context.Context, tb testing.TB, list []func(context.Context) (int, error), n int) {
	tb.Helper()
	for i, f := range list {
		require.Eventually(tb, func() bool {
			got, err := f(ctx)
			return err == nil && got == n
		}, time.Minute, 100*time.Millisecond, "replica %d does not list %d replicas", i, n)
	}
}
