package workspaceapps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// loopbackDialer reaches "agent ports" on this machine: the app under test
// is a real HTTP server on 127.0.0.1.
type loopbackDialer struct{}

func (loopbackDialer) DialAgent(ctx context.Context, _ uuid.UUID, port uint16) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
}

// tableResolver authorizes from a table: session token -> user, and each
// app's owner and sharing level.
type tableResolver struct {
	port    uint16
	owner   string // username owning every workspace
	share   string // owner | authenticated | public
	users   map[string]string
	agentID uuid.UUID
}

func (r *tableResolver) Resolve(_ context.Context, token string, req Request) (Token, error) {
	user, signedIn := r.users[token]
	if req.Username != r.owner || (req.Slug != "app" && req.Port == 0) {
		return Token{}, &Error{Status: http.StatusNotFound, Message: "no such app"}
	}
	switch {
	case r.share == "public":
	case !signedIn:
		return Token{}, ErrSignInRequired
	case r.share == "owner" && user != r.owner:
		return Token{}, &Error{Status: http.StatusNotFound, Message: "no such app"}
	}
	return Token{Request: req, AgentID: r.agentID, TargetURL: fmt.Sprintf("http://localhost:%d/base", r.port)}, nil
}

type appFixture struct {
	srv      *Server
	front    *httptest.Server
	resolver *tableResolver
	base     string // front URL
	wildcard string
}

// newAppFixture runs a real app (echoing what it receives), the apps
// server in front of it, and a dashboard origin on the same listener:
// hosts under *.apps.localtest are apps, anything else the dashboard.
func newAppFixture(t *testing.T, share string, disablePath bool) *appFixture {
	t.Helper()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/base/ws" {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, msg, err := c.Read(r.Context())
			if err == nil {
				_ = c.Write(r.Context(), typ, append([]byte("echo:"), msg...))
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "coder_session_token", Value: "stolen", Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "app_cookie", Value: "mine", Path: "/"})
		fmt.Fprintf(w, "path=%s\nquery=%s\ncookie=%s\nsession-header=%s\nhost=%s\nprefix=%s\n",
			r.URL.Path, r.URL.RawQuery, r.Header.Get("Cookie"), r.Header.Get("Coder-Session-Token"), r.Host, r.Header.Get("X-Forwarded-Prefix"))
	}))
	t.Cleanup(app.Close)
	port, err := strconv.Atoi(strings.TrimPrefix(app.URL, "http://127.0.0.1:"))
	require.NoError(t, err)

	f := &appFixture{resolver: &tableResolver{port: uint16(port), owner: "alice", share: share, users: map[string]string{"tok-alice": "alice", "tok-bob": "bob"}, agentID: uuid.New()}}
	f.front = httptest.NewUnstartedServer(nil)
	f.base = "http://" + f.front.Listener.Addr().String()
	access, err := url.Parse(f.base)
	require.NoError(t, err)
	keys, err := NewKeys()
	require.NoError(t, err)
	f.wildcard = "*.apps.localtest"
	f.srv, err = New(Options{Keys: keys, Resolver: f.resolver, Dialer: loopbackDialer{}, AccessURL: access, Wildcard: f.wildcard, DisablePathApps: disablePath, Logger: testutil.Logger(t)})
	require.NoError(t, err)
	f.front.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case f.srv.IsAppHost(r.Host):
			f.srv.ServeSubdomain(w, r)
		case r.URL.Path == "/api/v2/applications/auth-redirect":
			f.srv.ServeAuthRedirect(w, r)
		default:
			f.srv.ServePath(w, r)
		}
	})
	f.front.Start()
	t.Cleanup(f.front.Close)
	return f
}

// client is a browser: a cookie jar, redirects followed, and every host
// resolved to the fixture's listener (as a wildcard DNS record would).
func (f *appFixture) client(t *testing.T, session string) *http.Client {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	base, _ := url.Parse(f.base)
	if session != "" {
		jar.SetCookies(base, []*http.Cookie{{Name: "coder_session_token", Value: session, Path: "/"}})
	}
	addr := f.front.Listener.Addr().String()
	return &http.Client{Jar: jar, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func get(t *testing.T, c *http.Client, u string, header ...string) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequestWithContext(testutil.Context(t, testutil.WaitShort), http.MethodGet, u, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b), res
}

func TestPathAppProxy(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", false)
	c := f.client(t, "tok-alice")
	status, body, res := get(t, c, f.base+"/@alice/ws1/apps/app/some/page?x=1", "Coder-Session-Token", "tok-alice")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "path=/base/some/page\n", "the app prefix is stripped, the app URL's path kept")
	require.Contains(t, body, "query=x=1\n")
	require.Contains(t, body, "session-header=\n", "the product's auth header never reaches the app")
	require.NotContains(t, body, "tok-alice", "the session cookie never reaches the app")
	require.Contains(t, body, "prefix=/@alice/ws1/apps/app\n")
	for _, line := range res.Header.Values("Set-Cookie") {
		require.NotContains(t, line, "coder_session_token", "an app cannot set the dashboard's session cookie")
	}

	// The app token cookie now carries the next request alone.
	status, body, _ = get(t, c, f.base+"/@alice/ws1/apps/app/again")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "app_cookie=mine", "the app's own cookies pass")
	require.NotContains(t, body, TokenCookie)

	// Without the trailing slash: redirected to the canonical address.
	status, _, res = get(t, c, f.base+"/@alice/ws1/apps/app")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "/@alice/ws1/apps/app/", res.Request.URL.Path)
}

func TestPathAppAuthorization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, share, session string
		wantStatus           int
		wantLogin            bool
	}{
		{"owner", "owner", "tok-alice", http.StatusOK, false},
		{"other user, owner share", "owner", "tok-bob", http.StatusNotFound, false},
		{"other user, authenticated share", "authenticated", "tok-bob", http.StatusOK, false},
		{"anonymous, authenticated share", "authenticated", "", 0, true},
		{"anonymous, public share", "public", "", http.StatusOK, false},
		{"forged session", "owner", "tok-mallory", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newAppFixture(t, tc.share, false)
			c := f.client(t, tc.session)
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			status, body, res := get(t, c, f.base+"/@alice/ws1/apps/app/")
			if tc.wantLogin {
				require.Equal(t, http.StatusSeeOther, status, body)
				require.Equal(t, "/login?redirect=%2F%40alice%2Fws1%2Fapps%2Fapp%2F", res.Header.Get("Location"))
				return
			}
			require.Equal(t, tc.wantStatus, status, body)
		})
	}
	// A token minted for one app never opens another, even with the cookie.
	f := newAppFixture(t, "owner", false)
	c := f.client(t, "tok-alice")
	status, _, _ := get(t, c, f.base+"/@alice/ws1/apps/app/")
	require.Equal(t, http.StatusOK, status)
	status, _, _ = get(t, c, f.base+"/@alice/ws2/apps/nope/")
	require.Equal(t, http.StatusNotFound, status)
}

func TestPathAppsDisabled(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", true)
	status, body, _ := get(t, f.client(t, "tok-alice"), f.base+"/@alice/ws1/apps/app/")
	require.Equal(t, http.StatusNotFound, status)
	require.Contains(t, body, "Path-based apps are disabled")
	require.Contains(t, body, "app--ws1--alice.apps.localtest", "the page points to the subdomain address")
}

func TestSubdomainAppSignIn(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", false)
	_, port, _ := net.SplitHostPort(f.front.Listener.Addr().String())
	appURL := "http://app--main--ws1--alice.apps.localtest:" + port + "/deep/link?q=1"

	// Signed in on the dashboard: one trip through the auth redirect and the
	// app opens at the address asked for, with no ticket left in the URL.
	c := f.client(t, "tok-alice")
	var hops []string
	c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		hops = append(hops, req.URL.String())
		return nil
	}
	status, body, res := get(t, c, appURL)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "path=/base/deep/link\n")
	require.Contains(t, body, "query=q=1\n")
	require.Equal(t, appURL, res.Request.URL.String())
	require.Len(t, hops, 3, "auth-redirect, ticket, clean URL: %v", hops)
	ticketURL, err := url.Parse(hops[1])
	require.NoError(t, err)
	ticket := ticketURL.Query().Get(TicketParam)
	require.NotEmpty(t, ticket)
	require.NotContains(t, hops[1], "tok-alice", "the session token never appears in a URL")

	// The ticket works once.
	other := f.client(t, "")
	other.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, body, _ = get(t, other, hops[1])
	require.Equal(t, http.StatusUnauthorized, status, body)

	// Bob is signed in, but the app is Alice's.
	status, _, _ = get(t, f.client(t, "tok-bob"), appURL)
	require.Equal(t, http.StatusNotFound, status)

	// Anonymous: sent to sign in on the dashboard.
	anon := f.client(t, "")
	anon.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, _, res = get(t, anon, appURL)
	require.Equal(t, http.StatusSeeOther, status)
	require.Contains(t, res.Header.Get("Location"), "/api/v2/applications/auth-redirect?redirect_uri=")
	status, _, res = get(t, anon, res.Header.Get("Location"))
	require.Equal(t, http.StatusSeeOther, status)
	require.True(t, strings.HasPrefix(res.Header.Get("Location"), "/login?redirect="), res.Header.Get("Location"))
}

func TestAuthRedirectIsNotAnOpenRedirect(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", false)
	c := f.client(t, "tok-alice")
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, target := range []string{"https://evil.example.com/", "//evil.example.com", "javascript:alert(1)", "http://apps.localtest.evil.com/", ""} {
		status, _, _ := get(t, c, f.base+"/api/v2/applications/auth-redirect?redirect_uri="+url.QueryEscape(target))
		require.Equal(t, http.StatusBadRequest, status, target)
	}
}

func TestAppWebSocket(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", false)
	ctx := testutil.Context(t, testutil.WaitShort)
	u := strings.Replace(f.base, "http://", "ws://", 1) + "/@alice/ws1/apps/app/ws"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Coder-Session-Token": {"tok-alice"}}})
	require.NoError(t, err)
	defer conn.CloseNow()
	require.NoError(t, conn.Write(ctx, websocket.MessageText, []byte("hello")))
	_, msg, err := conn.Read(ctx)
	require.NoError(t, err)
	require.Equal(t, "echo:hello", string(msg))
}

func TestAppUnreachable(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.resolver.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	require.NoError(t, ln.Close()) // nothing listens there now
	start := time.Now()
	status, body, _ := get(t, f.client(t, "tok-alice"), f.base+"/@alice/ws1/apps/app/")
	require.Equal(t, http.StatusBadGateway, status)
	require.Contains(t, body, "Is it running in the workspace?")
	t.Logf("unreachable app answered in %s", time.Since(start))
}

// switchTickets is an in-memory TicketStore that can be made to fail, as
// a database that went away.
type switchTickets struct {
	usedTickets
	failing atomic.Bool
}

func (s *switchTickets) UseTicket(ctx context.Context, nonce string, expiry, now time.Time) (bool, error) {
	if s.failing.Load() {
		return false, errors.New("database unreachable")
	}
	return s.usedTickets.UseTicket(ctx, nonce, expiry, now)
}

// TestSubdomainAppTicketStore: the redeemed-ticket store is the Server's
// Tickets option, so two Servers sharing one (two replicas sharing the
// database) refuse on one a ticket redeemed on the other; a store that
// fails makes the sign-in answer 503, never let the ticket through.
func TestSubdomainAppTicketStore(t *testing.T) {
	t.Parallel()
	f := newAppFixture(t, "owner", false)
	shared := &switchTickets{}
	opts := f.srv.opts
	opts.Tickets = shared
	serve := func() *httptest.Server {
		s, err := New(opts)
		require.NoError(t, err)
		front := httptest.NewServer(http.HandlerFunc(s.ServeSubdomain))
		t.Cleanup(front.Close)
		return front
	}
	one, other := serve(), serve()
	// A browser whose app hosts resolve to apps, the dashboard to the
	// fixture (which makes the tickets, with the same keys).
	browser := func(apps *httptest.Server, session string) (*http.Client, *[]string) {
		c := f.client(t, session)
		c.Transport = &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			to := f.front.Listener.Addr().String()
			if strings.HasPrefix(addr, "app--") {
				to = apps.Listener.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, to)
		}}
		hops := &[]string{}
		c.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
			*hops = append(*hops, req.URL.String())
			return nil
		}
		return c, hops
	}

	_, port, _ := net.SplitHostPort(f.front.Listener.Addr().String())
	appURL := "http://app--main--ws1--alice.apps.localtest:" + port + "/"
	c, hops := browser(one, "tok-alice")
	status, body, _ := get(t, c, appURL)
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, *hops, 3, "auth-redirect, ticket, clean URL: %v", *hops)

	// The same ticket URL, on the other Server: already used.
	replay, _ := browser(other, "")
	replay.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	status, body, _ = get(t, replay, (*hops)[1])
	require.Equal(t, http.StatusUnauthorized, status, body)
	require.Contains(t, body, "already used")

	// A fresh ticket while the store fails: 503, and the app not reached.
	shared.failing.Store(true)
	c, _ = browser(other, "tok-alice")
	status, body, _ = get(t, c, appURL)
	require.Equal(t, http.StatusServiceUnavailable, status, body)
	require.Contains(t, body, "try again shortly")
	require.NotContains(t, body, "path=")
}
