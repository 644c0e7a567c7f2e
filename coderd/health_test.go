package coderd_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/testutil"
)

// The public health check says whether the server is healthy and nothing
// more: the database's error text is for those allowed the details.
func TestHealthz(t *testing.T) {
	t.Parallel()
	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		client, srv := coderdtest.New(t, nil)
		coderdtest.CreateFirstUser(t, client)
		ctx := testutil.Context(t, testutil.WaitShort)
		res := call(ctx, t, srv, http.MethodGet, "/healthz", "", nil)
		require.Equal(t, http.StatusOK, res.status)
		require.Equal(t, "OK", string(res.body))
		report, err := client.DebugHealth(ctx)
		require.NoError(t, err)
		require.True(t, report.Healthy)
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
}
