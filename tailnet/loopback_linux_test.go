//go:build linux

package tailnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// netnsChildEnv marks the re-executed test binary running inside its own
// network namespace.
const netnsChildEnv = "TAILNET_LOOPBACK_NETNS_CHILD"

// TestOnlyLoopbackTraffic proves that a full session (netcheck and STUN,
// DERP, coordination, a relayed then direct data path) talks only to the
// addresses in our DERP map, all of them loopback, and never to a
// Tailscale-operated host or anything else off this machine.
//
// The test re-runs itself in a fresh network namespace whose only way off
// the host is a TUN device carrying the default routes (IPv4 and IPv6),
// and records every packet the kernel routes to it. The namespace also
// makes any attempt fail fast instead of reaching the internet. Needs root
// (to create the namespace) and iproute2.
func TestOnlyLoopbackTraffic(t *testing.T) {
	if os.Getenv(netnsChildEnv) == "1" {
		loopbackChild(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip command")
	}
	t.Parallel()
	runInChild(t, "TestOnlyLoopbackTraffic", netnsChildEnv, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET})
}

// loopbackChild runs inside the namespace.
func loopbackChild(t *testing.T) {
	ctx := testContext(t)
	rec := startEscapeRecorder(t)

	relay := newTestRelay(t)
	for _, r := range relay.derpMap.Regions {
		for _, n := range r.Nodes {
			ip, err := netip.ParseAddr(n.HostName)
			require.NoError(t, err, "DERP map host %q must be an IP literal here", n.HostName)
			require.True(t, ip.IsLoopback(), "DERP map points off-host: %v", n.HostName)
		}
	}
	base := coordServer(t, NewCoordinator(testLogger(t)))
	agentID, agent := newTestConn(t, relay.derpMap, true, false)
	clientID, client := newTestConn(t, relay.derpMap, false, false)
	var wg sync.WaitGroup
	cctx, cancel := context.WithCancel(ctx)
	for _, p := range []struct {
		conn *Conn
		path string
		tgt  bool
	}{
		{agent, "/agent?id=" + agentID.String(), false},
		{client, "/client?id=" + clientID.String() + "&agent=" + agentID.String(), true},
	} {
		ws := dialCoord(ctx, t, base, p.path)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p.tgt {
				_ = Coordinate(cctx, ws, p.conn, &agentID)
			} else {
				_ = Coordinate(cctx, ws, p.conn, nil)
			}
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
	}()

	ln, err := agent.Listen("tcp", ":2222")
	require.NoError(t, err)
	echoServe(t, ln)
	dst := netip.AddrPortFrom(AgentIP(agentID), 2222)
	require.True(t, client.AwaitReachable(ctx, dst.Addr()))
	roundTrip(ctx, t, client, dst, 256<<10)
	waitPath(ctx, t, client, agentID, dst, true) // STUN and disco did their work
	roundTrip(ctx, t, client, dst, 256<<10)

	cancel()
	wg.Wait()
	require.NoError(t, agent.Close())
	require.NoError(t, client.Close())
	relay.close()

	escaped := rec.stop()
	require.Empty(t, escaped, "packets tried to leave the host")
}

// escapeRecorder reads every packet routed to the namespace's TUN device.
type escapeRecorder struct {
	t    testing.TB
	tun  *os.File
	done chan struct{}

	mu   sync.Mutex
	dsts map[netip.Addr]int
}

func startEscapeRecorder(t testing.TB) *escapeRecorder {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ip", args...).CombinedOutput()
		require.NoError(t, err, "ip %s: %s", strings.Join(args, " "), out)
	}
	run("link", "set", "lo", "up")

	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	require.NoError(t, err)
	ifr, err := unix.NewIfreq("escape0")
	require.NoError(t, err)
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	require.NoError(t, unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr))
	// Non-blocking, so the runtime poller can interrupt Read on Close.
	require.NoError(t, unix.SetNonblock(fd, true))
	r := &escapeRecorder{
		t:    t,
		tun:  os.NewFile(uintptr(fd), "escape0"),
		done: make(chan struct{}),
		dsts: map[netip.Addr]int{},
	}

	run("addr", "add", "198.18.0.1/24", "dev", "escape0")
	run("-6", "addr", "add", "fd99::1/64", "dev", "escape0", "nodad")
	run("link", "set", "escape0", "up")
	run("route", "add", "default", "dev", "escape0")
	run("-6", "route", "add", "default", "dev", "escape0")

	go r.read()
	t.Cleanup(func() { r.stop() })
	r.selfCheck()
	return r
}

// selfCheckProbe is an off-host address (TEST-NET-1) the recorder must see.
var selfCheckProbe = netip.MustParseAddr("192.0.2.123")

// selfCheck proves the recorder sees an off-host packet (then ignores that
// address).
func (r *escapeRecorder) selfCheck() {
	r.t.Helper()
	probe := selfCheckProbe
	ctx := testContext(r.t)
	for {
		c, err := net.Dial("udp", netip.AddrPortFrom(probe, 9).String())
		require.NoError(r.t, err)
		_, _ = c.Write([]byte("probe"))
		_ = c.Close()
		r.mu.Lock()
		seen := r.dsts[probe] > 0
		r.mu.Unlock()
		if seen {
			return
		}
		select {
		case <-ctx.Done():
			r.t.Fatal("escape recorder never saw its probe packet")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r *escapeRecorder) read() {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		n, err := r.tun.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				r.t.Errorf("read tun: %v", err)
			}
			return
		}
		if dst, ok := packetDst(buf[:n]); ok && !dst.IsMulticast() {
			// Multicast is the kernel's own chatter (MLD, ND), not ours.
			r.mu.Lock()
			r.dsts[dst]++
			r.mu.Unlock()
		}
	}
}

// stop ends recording and returns the off-host destinations seen.
func (r *escapeRecorder) stop() []string {
	_ = r.tun.Close()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for dst, n := range r.dsts {
		if dst == selfCheckProbe {
			continue
		}
		out = append(out, fmt.Sprintf("%v (%d packets)", dst, n))
	}
	slices.Sort(out)
	return out
}

func packetDst(p []byte) (netip.Addr, bool) {
	if len(p) < 1 {
		return netip.Addr{}, false
	}
	switch p[0] >> 4 {
	case 4:
		if len(p) >= 20 {
			return netip.AddrFrom4([4]byte(p[16:20])), true
		}
	case 6:
		if len(p) >= 40 {
			return netip.AddrFrom16([16]byte(p[24:40])), true
		}
	}
	return netip.Addr{}, false
}
