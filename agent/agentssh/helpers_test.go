package agentssh_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer serves a new agentssh server on a loopback port until the
// test ends.
func startServer(t testing.TB, opts agentssh.Options) (*agentssh.Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testutil.Logger(t)
	}
	srv, err := agentssh.New(opts)
	require.NoError(t, err)
	return srv, testutil.ServeLoopback(t, srv.Serve, srv.Close, agentssh.ErrServerClosed)
}

// dial connects an x/crypto SSH client whose I/O is bounded by ctx.
func dial(ctx context.Context, t testing.TB, addr string) *gossh.Client {
	t.Helper()
	conn := testutil.DialTCP(ctx, t, addr)
	c, chans, reqs, err := gossh.NewClientConn(conn, addr, &gossh.ClientConfig{
		User:            "anyone",
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	require.NoError(t, err)
	client := gossh.NewClient(c, chans, reqs)
	t.Cleanup(func() { client.Close() })
	return client
}

// pollInterval is how often Eventually checks a condition.
const pollInterval = 10 * time.Millisecond

// deadlineLeft is the time left before ctx's deadline.
func deadlineLeft(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return time.Until(d)
	}
	return testutil.WaitShort
}

// sshTest is one session on a new server, with its client.
type sshTest struct {
	ctx    context.Context // bounds the test, and the client's I/O
	srv    *agentssh.Server
	addr   string
	client *gossh.Client
	sess   *gossh.Session
}

// newSession serves a new server with opts, dials it and opens a session;
// all are closed when the test ends.
func newSession(t testing.TB, opts agentssh.Options) sshTest {
	t.Helper()
	st := sshTest{ctx: testutil.Context(t, testutil.WaitShort)}
	st.srv, st.addr = startServer(t, opts)
	st.client = dial(st.ctx, t, st.addr)
	var err error
	st.sess, err = st.client.NewSession()
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.sess.Close() })
	return st
}

// newClient serves a new server with opts and dials it, for tests that do
// not need the server itself; ctx bounds the test.
func newClient(t testing.TB, opts agentssh.Options) (context.Context, *gossh.Client) {
	t.Helper()
	ctx := testutil.Context(t, testutil.WaitShort)
	_, addr := startServer(t, opts)
	return ctx, dial(ctx, t, addr)
}
