package coderd_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// The public health check says whether the server is healthy and nothing
// more: the database's error text is for those allowed the details.
func TestHealthz(t *testing.T) {
	t.Parallel()
	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
		coderdtest.CreateFirstUser(t, client)
		ctx := testutil.Context(t, testutil.WaitShort)
		// A daemon online, so every check of the report can pass.
		_, acquireErr := coderdtest.DaemonClient(client).AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Name: "d"})
		require.NoError(t, acquireErr)
		res := call(ctx, t, srv, http.MethodGet, "/healthz", "", nil)
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "OK", string(res.body))
		report, err := client.DebugHealth(ctx)
		require.NoError(t, err)
		require.True(t, report.Healthy, "%+v", report)
		require.True(t, report.Database.Healthy)
		require.Empty(t, report.Database.Error)
	})
	t.Run("database down", func(t *testing.T) {
		t.Parallel()
		_, srv := coderdtest.New(t, nil)
		ctx := testutil.Context(t, testutil.WaitShort)
		srv.DB.Close()
		res := call(ctx, t, srv, http.MethodGet, "/healthz", "", nil)
		require.Equal(t, http.StatusServiceUnavailable, res.status)
		out := res.response(t)
		require.Equal(t, "Database unreachable.", out.Message)
		require.Empty(t, out.Detail, "anonymous callers get no error text")
		require.NotContains(t, string(res.body), "closed")
	})
	// A stopping server drains: /healthz fails, so a load balancer takes
	// it out of its pool, while the API still answers (in-flight and new
	// requests that reach it before the balancer notices).
	t.Run("draining", func(t *testing.T) {
		t.Parallel()
		client, srv := coderdtest.New(t, nil)
		coderdtest.CreateFirstUser(t, client)
		ctx := testutil.Context(t, testutil.WaitShort)
		srv.API.Drain()
		res := call(ctx, t, srv, http.MethodGet, "/healthz", "", nil)
		require.Equal(t, http.StatusServiceUnavailable, res.status)
		require.Equal(t, "Shutting down.", res.response(t).Message)
		_, err := client.User(ctx, codersdk.Me)
		require.NoError(t, err, "the API serves while draining")
	})
}
