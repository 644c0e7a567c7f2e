package agent_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// agentIdle is how long the agent sits ready and unused before its memory
// is read: long enough for its first stats and ports reports and for the
// tailnet's start-up work to settle.
const agentIdle = 5 * time.Second

// BenchmarkAgentIdleRSS measures the memory a workspace pays for its agent:
// the real `coder agent` binary (built once), connected to an in-process
// coderd with the agent token of a workspace build, ready (lifecycle
// reported, tailnet node registered, SSH server listening) and idle for
// agentIdle. Reported from /proc/<pid>/status:
//
//   - rss-MiB: resident memory (VmRSS);
//   - peak-MiB: the high-water mark (VmHWM), from start-up;
//   - anon-MiB: private anonymous memory (RssAnon), the part that is not
//     the binary's shared file pages;
//   - baseline-rss-MiB: the same binary as `coder agent` that cannot reach
//     coderd (it retries fetching its manifest), idle as long: what the
//     binary and Go runtime cost before any agent service starts (and
//     baseline-anon-MiB, its private part);
//   - rss/baseline: the first over the last.
func BenchmarkAgentIdleRSS(b *testing.B) {
	bin := buildCoder(b)
	owner, agentID, token := setupWorkspace(b, nil, nil)
	closed := closedURL(b)

	var rss, peak, anon, base, baseAnon float64
	for b.Loop() {
		p := startAgentProcess(b, bin, owner.URL.String(), token)
		awaitReady(b, owner, agentID)
		time.Sleep(agentIdle)
		st := procStatus(b, p.Process.Pid)
		rss += st["VmRSS"]
		peak += st["VmHWM"]
		anon += st["RssAnon"]
		stopProcess(p)

		q := startAgentProcess(b, bin, closed, token)
		time.Sleep(agentIdle)
		st = procStatus(b, q.Process.Pid)
		base += st["VmRSS"]
		baseAnon += st["RssAnon"]
		stopProcess(q)
	}
	n := float64(b.N)
	b.ReportMetric(rss/n, "rss-MiB")
	b.ReportMetric(peak/n, "peak-MiB")
	b.ReportMetric(anon/n, "anon-MiB")
	b.ReportMetric(base/n, "baseline-rss-MiB")
	b.ReportMetric(baseAnon/n, "baseline-anon-MiB")
	b.ReportMetric(rss/base, "rss/baseline")
}

// buildCoder builds the coder binary into a temporary directory.
func buildCoder(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "coder")
	cmd := exec.Command("go", "build", "-tags", testutil.BuildTags, "-o", bin, "./cmd/coder")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, "build coder: %s", out)
	return bin
}

// closedURL is an HTTP URL on a loopback port nothing listens on.
func closedURL(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	u := "http://" + l.Addr().String()
	require.NoError(b, l.Close())
	return u
}

// startAgentProcess runs `coder agent`; the benchmark's cleanup stops it
// if stopProcess did not.
func startAgentProcess(b *testing.B, bin, url, token string) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(bin, "agent")
	cmd.Env = append(os.Environ(), "CODER_AGENT_URL="+url, "CODER_AGENT_TOKEN="+token)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		if stopProcess(cmd) && b.Failed() {
			b.Logf("coder agent output:\n%s", out.String())
		}
	})
	return cmd
}

// stopProcess interrupts cmd (killing it after 30s) and waits for it. It
// reports false if cmd had already been waited for.
func stopProcess(cmd *exec.Cmd) bool {
	if cmd.ProcessState != nil {
		return false
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	t := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer t.Stop()
	_ = cmd.Wait()
	return true
}

func awaitReady(b *testing.B, c *codersdk.Client, id uuid.UUID) {
	b.Helper()
	ctx := testutil.Context(b, time.Minute)
	require.Eventually(b, func() bool {
		a, err := c.WorkspaceAgent(ctx, id)
		return err == nil && a.LifecycleState == codersdk.WorkspaceAgentLifecycleReady
	}, time.Minute, 50*time.Millisecond, "the agent never became ready")
}

// procStatus reads the kB fields of /proc/<pid>/status, in MiB.
func procStatus(b *testing.B, pid int) map[string]float64 {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err == nil {
			out[k] = kb / 1024
		}
	}
	require.NoError(b, sc.Err())
	require.Contains(b, out, "VmRSS")
	return out
}
