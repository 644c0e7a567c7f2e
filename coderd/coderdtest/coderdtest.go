// Package coderdtest runs a real coderd in-process for tests: a fresh
// PostgreSQL database per test (dbtestutil), the real HTTP handler on a
// loopback httptest server, driven through codersdk like any client.
package coderdtest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/coderd/userpassword"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/testutil"
)

// Options tweak the server under test.
type Options struct {
	// Now overrides the server clock.
	Now func() time.Time
	// LoginRateBurst overrides the login rate limit (default: generous, so
	// tests that log in many users are not throttled).
	LoginRateBurst    int
	LoginRateInterval time.Duration
	// Logger defaults to one that discards.
	Logger *slog.Logger
	// ProvisionerPSK enables pre-shared-key daemon auth.
	ProvisionerPSK string
	// HeartbeatTimeout and ReapInterval tune the job reaper.
	HeartbeatTimeout time.Duration
	ReapInterval     time.Duration
	// MaxFileSize bounds uploads.
	MaxFileSize int64
	// AcquirePollInterval is the daemons' safety-net poll (set it high to
	// prove NOTIFY wake-ups).
	AcquirePollInterval time.Duration
	// PasswordParams is the argon2id cost of new password hashes; zero
	// means FastPassword. Benchmarks pass userpassword.Default to measure
	// what production pays.
	PasswordParams userpassword.Params
	// BlockDirect and BrowserOnly are the deployment's tailnet policies.
	BlockDirect bool
	BrowserOnly bool
	// DetachedWriteTimeout bounds writes that outlive their request.
	DetachedWriteTimeout time.Duration
	// AutostopTick is how often the lifecycle executor looks; zero keeps
	// coderd's default (a minute: in a test, in effect never, so tests
	// drive it with API.Autostop().RunOnce).
	AutostopTick time.Duration
	// PrometheusRegistry receives the server's metrics (nil: none).
	PrometheusRegistry *prometheus.Registry
}

// Server is a running test deployment.
type Server struct {
	URL    *url.URL
	DB     *database.Store
	API    *coderd.API
	Pubsub *pubsub.Pubsub
}

// FastPassword is a cheap argon2id setting so tests do not spend seconds
// hashing; production uses userpassword.Default.
var FastPassword = userpassword.Params{Time: 1, Memory: 64, Threads: 1}

// Context is testutil.Context.
//
// Deprecated: use testutil.Context; this remains for tests outside coderd
// that still call it.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	return testutil.Context(t, d)
}

// New starts a deployment and returns an unauthenticated client for it.
func New(t testing.TB, opts *Options) (*codersdk.Client, *Server) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.LoginRateBurst == 0 {
		opts.LoginRateBurst = 10000
		opts.LoginRateInterval = time.Millisecond
	}
	if opts.PasswordParams == (userpassword.Params{}) {
		opts.PasswordParams = FastPassword
	}
	ctx := testutil.Context(t, time.Minute)
	db, err := database.Open(ctx, dbtestutil.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)

	ps, err := pubsub.New(ctx, db.Pool(), opts.Logger)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })

	srv := httptest.NewUnstartedServer(nil)
	u, err := url.Parse("http://" + srv.Listener.Addr().String())
	require.NoError(t, err)

	// The tailnet: an embedded STUN server on loopback, DERP on the API port.
	stun, err := tailnet.NewSTUNServer(ctx, "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = stun.Close() })
	derpMap, err := tailnet.NewDERPMap(u, []string{stun.Addr().String()}, "", false)
	require.NoError(t, err)
	derpJSON, err := tailnet.MarshalDERPMap(derpMap)
	require.NoError(t, err)
	derpHandler, derpCloser := tailnet.NewDERPHandler(opts.Logger)
	coord := tailnet.NewCoordinator(opts.Logger)
	coord.SetBlockEndpoints(opts.BlockDirect)
	t.Cleanup(func() { _ = coord.Close(); _ = derpCloser.Close() })

	api, err := coderd.New(ctx, coderd.Options{
		Coordinator: coord, DERPHandler: derpHandler, DERPMap: func() json.RawMessage { return derpJSON },
		BlockDirect: opts.BlockDirect, BrowserOnly: opts.BrowserOnly,
		AccessURL: u, DB: db, Pubsub: ps, Logger: opts.Logger, Now: opts.Now,
		LoginRateBurst: opts.LoginRateBurst, LoginRateInterval: opts.LoginRateInterval,
		PasswordParams: opts.PasswordParams, ProvisionerPSK: opts.ProvisionerPSK,
		HeartbeatTimeout: opts.HeartbeatTimeout, ReapInterval: opts.ReapInterval,
		MaxFileSize: opts.MaxFileSize, AcquirePollInterval: opts.AcquirePollInterval,
		DetachedWriteTimeout: opts.DetachedWriteTimeout, AutostopTick: opts.AutostopTick,
		PrometheusRegistry: opts.PrometheusRegistry,
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = api.Close() })
	srv.Config.Handler = api.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return codersdk.New(u), &Server{URL: u, DB: db, API: api, Pubsub: ps}
}

// FirstUserPassword is the password every helper-made user gets.
const FirstUserPassword = "SomePass!234"

// CreateFirstUser creates the owner and logs client in as them.
func CreateFirstUser(t testing.TB, client *codersdk.Client) codersdk.CreateFirstUserResponse {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	resp, err := client.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{
		Email: "admin@example.com", Username: "admin", Password: FirstUserPassword,
	})
	require.NoError(t, err)
	login, err := client.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: FirstUserPassword})
	require.NoError(t, err)
	client.SetSessionToken(login.SessionToken)
	return resp
}

var userSeq atomic.Int64

// CreateAnotherUser creates a user with the given site roles (via the
// owner's client) and returns a client logged in as them.
func CreateAnotherUser(t testing.TB, owner *codersdk.Client, roles ...string) (*codersdk.Client, codersdk.User) {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	n := userSeq.Add(1)
	user, err := owner.CreateUser(ctx, codersdk.CreateUserRequestWithOrgs{
		Email: fmt.Sprintf("user%d@example.com", n), Username: fmt.Sprintf("user%d", n), Password: FirstUserPassword,
	})
	require.NoError(t, err)
	if len(roles) > 0 {
		user, err = owner.UpdateUserRoles(ctx, user.ID.String(), codersdk.UpdateRoles{Roles: roles})
		require.NoError(t, err)
	}
	client := codersdk.New(owner.URL)
	login, err := client.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: user.Email, Password: FirstUserPassword})
	require.NoError(t, err)
	client.SetSessionToken(login.SessionToken)
	return client, user
}
