package scaletest_test

import (
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/scaletest"
	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) {
	code := dbtestutil.Main(m)
	if dir := binDir.Load(); dir != nil {
		_ = os.RemoveAll(*dir)
	}
	os.Exit(code)
}

// TestFleet runs a few simulated agents against an in-process coderd (the
// benchmark's two processes are too slow for the suite): the workspaces
// are provisioned, every agent comes up ready and connected as coderd
// sees it, a probe's client receives a node update, stats reach the
// recorder, and Stop ends everything.
func TestFleet(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, 2*time.Minute)
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(t, client)

	tokens, err := scaletest.Provision(ctx, client, coderdtest.DaemonClient(client), first.OrganizationID, "fleet", 4, 2)
	require.NoError(t, err)
	require.Len(t, tokens, 4)

	hc := scaletest.NewHTTPClient(8)
	defer hc.CloseIdleConnections()
	var rec scaletest.Recorder
	fleet, err := scaletest.StartFleet(ctx, []*url.URL{srv.URL, srv.URL}, hc, tokens, &rec, 2)
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			fleet.Stop()
		}
	}()
	require.Len(t, fleet.Agents, 4)
	for _, a := range fleet.Agents {
		require.Eventually(t, func() bool {
			got, err := client.WorkspaceAgent(ctx, a.ID)
			return err == nil && got.LifecycleState == codersdk.WorkspaceAgentLifecycleReady && got.Status == codersdk.WorkspaceAgentConnected
		}, time.Minute, 20*time.Millisecond, "agent %s is ready and connected", a.ID)
	}

	p, err := scaletest.NewProbe(ctx, client, fleet.Agents[0])
	require.NoError(t, err)
	d, err := p.Measure(ctx)
	require.NoError(t, err)
	t.Logf("a node update reached the client in %s", d)
	// The client's node reaches the agent on its own schedule (the probe
	// measured the other direction).
	require.Eventually(t, func() bool { return fleet.Agents[0].PeerUpdates.Load() > 0 }, time.Minute, 10*time.Millisecond,
		"the agent heard of the probe's client")
	p.Close()

	sum := rec.Summary()
	require.Zero(t, sum.Errors, "last error: %v", sum.LastErr)
	require.Equal(t, 4*4, sum.Startup.N, "manifest, startup and two lifecycle reports per agent")
	fleet.Stop()
	stopped = true
	require.Zero(t, fleet.Drops())
}

func TestQuantiles(t *testing.T) {
	t.Parallel()
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	q := scaletest.NewQuantiles(ds)
	require.Equal(t, scaletest.Quantiles{N: 100, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}, q)
	require.Equal(t, scaletest.Quantiles{}, scaletest.NewQuantiles(nil))
	require.Equal(t, time.Duration(7), scaletest.NewQuantiles([]time.Duration{7}).P99)
}
