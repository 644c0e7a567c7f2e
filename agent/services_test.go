package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/testutil"
)

// manifestOnlyCoderd is a coderd that answers the agent's manifest request,
// has no git SSH key for it (404, like a coderd without the route), and
// fails the test on any other call.
func manifestOnlyCoderd(t *testing.T) *codersdk.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/workspaceagents/me/gitsshkey" {
			http.NotFound(w, r)
			return
		}
		if r.URL.Path != "/api/v2/workspaceagents/me/manifest" {
			t.Errorf("unexpected call %s %s", r.Method, r.URL.Path)
			http.Error(w, "unexpected", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(codersdk.AgentManifest{
			AgentID: uuid.New(), AgentName: "main", Directory: t.TempDir(),
			DERPMap: json.RawMessage(`{"Regions":{}}`),
		})
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	require.NoError(t, err)
	c := codersdk.New(u)
	c.SetSessionToken(uuid.NewString())
	return c
}

// When a service fails to start after the tailnet node is up, Run closes
// the node (it used to leak it, with its goroutines) and the servers that
// did start, joining their Serve goroutines (goleak in TestMain checks).
func TestStartServicesFailureClosesConn(t *testing.T) {
	t.Parallel()
	var conn *tailnet.Conn
	a := New(Options{
		Client: manifestOnlyCoderd(t),
		Logger: testutil.Logger(t),
		testHookConn: func(c *tailnet.Conn) error {
			conn = c
			// Take the terminal port, so its Listen fails after the SSH
			// servers have started.
			_, err := c.Listen("tcp", fmt.Sprintf(":%d", agentconn.ReconnectingPTYPort))
			return err
		},
	})
	err := a.Run(testutil.Context(t, testutil.WaitMedium))
	require.ErrorContains(t, err, "listen for terminals")
	require.NotNil(t, conn)
	_, err = conn.Listen("tcp", ":9")
	require.ErrorIs(t, err, tailnet.ErrClosed, "the tailnet node is closed")
}

// A Serve that ends with anything but the listener-closed error of a
// shutdown is logged and reported by closeServices; the shutdown's own
// errors are not.
func TestServeErrorsAreReported(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	a := New(Options{Logger: testutil.TeeLogger(t, &logs)})
	boom := errors.New("accept: too many open files")
	release := make(chan struct{})
	var cancel context.CancelFunc
	a.servingCtx, cancel = context.WithCancel(context.Background())
	a.stopServing = func() { cancel(); close(release) } // what shutdown does first
	a.goServe("broken", func() error { return boom })
	a.goServe("healthy", func() error {
		<-release // until shutdown closes its listener
		return fmt.Errorf("accept: %w", net.ErrClosed)
	})
	err := a.closeServices()
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "serve broken")
	require.NotContains(t, err.Error(), "healthy")
	require.Contains(t, logs.String(), "server failed")
}
