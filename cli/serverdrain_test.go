package cli

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestServerDrain: a replica told to stop while another is live first
// drains: /healthz answers 503 while the API still serves, for
// --shutdown-drain-period; then it stops. A lone server has no one to
// drain to and stops at once.
func TestServerDrain(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	pg := dbtestutil.NewDB(t)

	startDraining := func(ctx context.Context, pg, drain string) (*invocation, string) {
		addr, u := freeLoopbackURL(t)
		return newEnv(t).start(ctx, nil, "server", "--http-address", addr, "--stun-address", "disable", "--provisioner-daemons", "0",
			"--postgres-url", pg, "--replica-heartbeat-interval", "200ms", "--derp-server-relay-url", u,
			"--shutdown-drain-period", drain), u
	}
	ctxA, stopA := context.WithCancel(ctx)
	defer stopA()
	a, urlA := startDraining(ctxA, pg, "20s")
	a.waitFor(t, &a.stderr, "Press Ctrl+C")
	_, urlB := startReplica(ctx, t, pg, false)
	client := ownerClient(ctx, t, urlA)
	require.Eventually(t, func() bool {
		rs, err := client.Replicas(ctx)
		return err == nil && len(rs) == 2
	}, time.Minute, 50*time.Millisecond, "A sees B")
	require.Equal(t, http.StatusOK, healthz(ctx, t, urlA))

	stopped := time.Now()
	stopA()
	a.waitFor(t, &a.stderr, "Draining for 20s")
	require.Equal(t, http.StatusServiceUnavailable, healthz(ctx, t, urlA))
	_, err := client.User(ctx, codersdk.Me)
	require.NoError(t, err, "the API serves while draining")
	require.Equal(t, http.StatusOK, healthz(ctx, t, urlB), "B is not draining")
	require.Zero(t, a.wait(t, ctx))
	t.Logf("A stopped %s after it was told to (drain period 20s)", time.Since(stopped).Round(100*time.Millisecond))

	// A lone server has no one to drain to: with an hour's drain period
	// it still stops within the test's deadline.
	ctxL, stopL := context.WithCancel(ctx)
	defer stopL()
	lone, _ := startDraining(ctxL, dbtestutil.NewDB(t), "1h")
	lone.waitFor(t, &lone.stderr, "Press Ctrl+C")
	stopL()
	require.Zero(t, lone.wait(t, ctx))
	require.NotContains(t, lone.stderr.String(), "Draining")
}

// TestDrainerSkips: the drain step does nothing for a lone replica or a
// zero period, and ends early on a second signal.
func TestDrainerSkips(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitShort)
	for _, c := range []struct {
		name   string
		period time.Duration
		peers  int
	}{{"lone", time.Hour, 0}, {"off", 0, 2}} {
		api, srv := &fakeDrainAPI{}, &fakeKeepAlive{on: true}
		var out bytes.Buffer
		drainer{api: api, srv: srv}.drain(ctx, c.period, c.peers, nil, &out)
		require.False(t, api.drained, c.name)
		require.True(t, srv.on, c.name)
		require.Empty(t, out.String(), c.name)
	}
	api, srv := &fakeDrainAPI{}, &fakeKeepAlive{on: true}
	skip := make(chan os.Signal, 1)
	skip <- os.Interrupt
	var out bytes.Buffer
	drainer{api: api, srv: srv}.drain(ctx, time.Hour, 1, skip, &out)
	require.True(t, api.drained)
	require.False(t, srv.on, "keep-alives are off while draining")
	require.Contains(t, out.String(), "draining skipped")
}

type fakeDrainAPI struct{ drained bool }

func (f *fakeDrainAPI) Drain() { f.drained = true }

type fakeKeepAlive struct{ on bool }

func (f *fakeKeepAlive) SetKeepAlivesEnabled(on bool) { f.on = on }

func healthz(ctx context.Context, t *testing.T, u string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/healthz", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	return resp.StatusCode
}
