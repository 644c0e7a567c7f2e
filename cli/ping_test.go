package cli

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

var pongLine = regexp.MustCompile(`(?m)^pong from admin/ws in [0-9.]+ms (via DERP region 999 \(coder\)|p2p via \S+)$`)

func TestPing(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	d.startAgent(d.createWorkspace("ws")["main"])
	ctx := testutil.Context(t, 2*time.Minute)

	code, stdout, stderr := d.exec(t, ctx, nil, "ping", "ws", "-n", "3", "--interval", "50ms")
	require.Equal(t, 0, code, stderr)
	require.Len(t, pongLine.FindAllString(stdout, -1), 3, stdout)
	require.Contains(t, stdout, "3 sent, 3 received, 0% loss; round trip min/avg/max ")
	require.Regexp(t, `(?m)^Path: (via DERP region 999 \(coder\)|p2p via \S+)$`, stdout)

	// On loopback a direct path replaces the relay quickly: ping until it
	// shows, then Ctrl-C (the context) prints the summary.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	r := d.start(runCtx, nil, "ping", "ws", "-n", "0", "--interval", "100ms")
	r.waitFor(t, &r.stdout, "p2p via 127.0.0.1:")
	stop()
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Regexp(t, `(?m)^Path: p2p via 127\.0\.0\.1:\d+$`, r.stdout.String())
	if strings.Contains(r.stdout.String(), "via DERP") {
		require.Contains(t, r.stdout.String(), "Direct connection established: p2p via 127.0.0.1:", "the upgrade is announced")
	}
}

// TestPingRelayOnly: with direct connections disabled deployment-wide, pings
// go through DERP and SSH still works.
func TestPingRelayOnly(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, &coderdtest.Options{BlockDirect: true})
	d.startAgent(d.createWorkspace("ws")["main"])
	ctx := testutil.Context(t, 2*time.Minute)

	code, stdout, stderr := d.exec(t, ctx, nil, "ping", "ws", "-n", "5", "--interval", "100ms", "--connect-timeout", "30s")
	require.Equal(t, 0, code, stderr)
	require.Len(t, regexp.MustCompile(`(?m)^pong from admin/ws in \S+ via DERP region 999 \(coder\)$`).FindAllString(stdout, -1), 5, stdout)
	require.NotContains(t, stdout, "p2p")
	require.Contains(t, stdout, "Path: via DERP region 999 (coder)")

	code, stdout, stderr = d.exec(t, ctx, nil, "ssh", "ws", "--connect-timeout", "30s", "--", "echo", "relayed")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "relayed\n", stdout)

	code, _, stderr = d.exec(t, ctx, nil, "speedtest", "ws", "--direct", "-t", "100ms", "--connect-timeout", "30s")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "this deployment disables direct connections")
}

func TestSpeedtest(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	d.startAgent(d.createWorkspace("ws")["main"])
	ctx := testutil.Context(t, 2*time.Minute)

	code, stdout, stderr := d.exec(t, ctx, nil, "speedtest", "ws", "-t", "300ms")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, `(?m)^Path: (via DERP region 999 \(coder\)|p2p via \S+)$`, stdout)
	require.Regexp(t, `(?m)^upload\s+[0-9.]+ Mbit/s\s+`, stdout)
	require.Regexp(t, `(?m)^download\s+[0-9.]+ Mbit/s\s+`, stdout)

	type report struct {
		Path struct {
			Direct      bool   `json:"direct"`
			DERPRegion  int    `json:"derp_region"`
			Description string `json:"description"`
		} `json:"path"`
		Results []struct {
			Direction      string  `json:"direction"`
			MbitsPerSecond float64 `json:"mbits_per_second"`
			Bytes          int64   `json:"bytes"`
		} `json:"results"`
	}
	for _, mode := range []string{"--relay", "--direct"} {
		code, stdout, stderr = d.exec(t, ctx, nil, "speedtest", "ws", mode, "-t", "300ms", "-o", "json", "--connect-timeout", "30s")
		require.Equal(t, 0, code, stderr)
		var rep report
		require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
		require.Len(t, rep.Results, 2)
		require.Equal(t, "upload", rep.Results[0].Direction)
		require.Equal(t, "download", rep.Results[1].Direction)
		for _, res := range rep.Results {
			require.Positive(t, res.Bytes, res.Direction)
			require.Positive(t, res.MbitsPerSecond, res.Direction)
		}
		if mode == "--relay" {
			require.False(t, rep.Path.Direct, stdout)
			require.Equal(t, 999, rep.Path.DERPRegion)
		} else {
			require.True(t, rep.Path.Direct, stdout)
		}
	}
}

// TestPingAgentSilentOnTailnet: an agent connected to coderd that never
// answers over the tailnet (it holds its coordination connection but
// publishes no node). The command says what it waits for after a few
// seconds, then gives up at --connect-timeout naming the relay it tried.
func TestPingAgentSilentOnTailnet(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	token := d.createWorkspace("ws")["main"]
	ctx := testutil.Context(t, 2*time.Minute)

	agentClient := codersdk.New(d.owner.URL)
	agentClient.SetSessionToken(token)
	coord, err := agentClient.DialAgentCoordinator(ctx)
	require.NoError(t, err)
	defer coord.CloseNow() // never read: the few peer updates wait in buffers
	require.Eventually(t, func() bool {
		ws, err := d.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "ws")
		return err == nil && len(ws.LatestBuild.Resources) > 0 && len(ws.LatestBuild.Resources[0].Agents) > 0 &&
			ws.LatestBuild.Resources[0].Agents[0].Status == codersdk.WorkspaceAgentConnected
	}, time.Minute, 50*time.Millisecond, "the agent counts as connected")

	code, stdout, stderr := d.exec(t, ctx, nil, "ping", "ws", "-n", "1", "--connect-timeout", "5s")
	require.Equal(t, 1, code, stdout)
	require.Contains(t, stderr, "Waiting for admin/ws to answer over the tailnet (its agent is connected to coderd)...")
	require.Contains(t, stderr, "did not answer over the tailnet within 5s")
	require.Empty(t, stdout, "no PING line before the agent answers")
}
