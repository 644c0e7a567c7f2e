package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

const (
	adminEmail = "admin@example.com"
	adminPass  = coderdtest.FirstUserPassword
)

// loggedIn returns a server with its first user and an env logged in as it.
func loggedIn(t *testing.T) (*cliEnv, *codersdk.Client, *coderdtest.Server) {
	t.Helper()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	e := newEnv(t)
	e.ok("login", srv.URL.String(), "--first-user-email", adminEmail, "--first-user-password", adminPass)
	return e, client, srv
}

func TestLoginCreatesFirstUser(t *testing.T) {
	t.Parallel()
	_, srv := coderdtest.New(t, nil)
	e := newEnv(t)
	out := e.ok("login", srv.URL.String(), "--first-user-username", "boss", "--first-user-email", "boss@example.com", "--first-user-password", adminPass)
	require.Contains(t, out, "Welcome to Coder, boss!")
	require.Equal(t, srv.URL.String(), e.saved("url"))
	info, err := os.Stat(filepath.Join(e.configDir, "session"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the session file is private")

	out = e.ok("whoami")
	require.Contains(t, out, "you're authenticated as boss (boss@example.com)")
	var me codersdk.User
	require.NoError(t, json.Unmarshal([]byte(e.ok("whoami", "-o", "json")), &me))
	require.Equal(t, "boss", me.Username)
	require.Equal(t, codersdk.RoleOwner, me.Roles[0].Name)

	// The same flags on a deployment that has users just log in.
	other := newEnv(t)
	out = other.ok("login", srv.URL.String(), "--first-user-username", "boss", "--first-user-email", "boss@example.com", "--first-user-password", adminPass)
	require.Contains(t, out, "Welcome to Coder, boss!")
}

func TestLoginExistingUser(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	cases := []struct {
		name string
		args []string
		want string // substring of stderr on failure; "" = success
	}{
		{"email", []string{"--first-user-email", adminEmail, "--first-user-password", adminPass}, ""},
		{"username as login", []string{"--first-user-username", "admin", "--first-user-password", adminPass}, ""},
		{"wrong password", []string{"--first-user-email", adminEmail, "--first-user-password", "Wrong!234x"}, "Incorrect email or password"},
		{"no flags, not a terminal", nil, "not a terminal"},
		{"password only", []string{"--first-user-password", adminPass}, "not a terminal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			args := append([]string{"login", srv.URL.String()}, c.args...)
			if c.want == "" {
				require.Contains(t, e.ok(args...), "Welcome to Coder, admin!")
				return
			}
			stderr := e.fails(args...)
			require.Contains(t, stderr, c.want)
			_, err := os.Stat(filepath.Join(e.configDir, "session"))
			require.ErrorIs(t, err, os.ErrNotExist, "a failed login saves nothing")
		})
	}
}

func TestLoginNonTerminalStdin(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)

	// A real file that is not a terminal, as under CI or a pipe.
	devnull, err := os.Open(os.DevNull)
	require.NoError(t, err)
	t.Cleanup(func() { _ = devnull.Close() })

	e := newEnv(t)
	e.stdin = devnull
	stderr := e.fails("login", srv.URL.String())
	require.Contains(t, stderr, "this deployment has no users yet: pass --first-user-username, --first-user-email and --first-user-password")

	coderdtest.CreateFirstUser(t, client)
	stderr = e.fails("login", srv.URL.String())
	require.Contains(t, stderr, "not a terminal: pass --token")
}

func TestLoginWithToken(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, time.Minute)
	tok, err := client.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "cli"})
	require.NoError(t, err)

	e := newEnv(t)
	require.Contains(t, e.ok("login", srv.URL.String(), "--token", tok.Key), "Welcome to Coder, admin!")
	require.Equal(t, tok.Key, e.saved("session"))

	bad := newEnv(t)
	require.Contains(t, bad.fails("login", srv.URL.String(), "--token", "aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb"), "Invalid session token")
}

func TestLoginBadURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	require.Contains(t, e.fails("login", "ftp://example.com"), "scheme must be http or https")
	require.Contains(t, e.fails("login"), "no URL given")
	// Nothing listens on port 1.
	require.Contains(t, e.fails("login", "http://127.0.0.1:1"), "reach http://127.0.0.1:1")
}

func TestUsersCommands(t *testing.T) {
	t.Parallel()
	e, _, _ := loggedIn(t)

	out := e.ok("users", "create", "--username", "alice", "--email", "alice@example.com", "--password", "Secret!234", "--full-name", "Alice A.")
	require.Contains(t, out, "Created user alice (alice@example.com)")
	var created codersdk.User
	require.NoError(t, json.Unmarshal([]byte(e.ok("users", "create", "-u", "bob", "-e", "bob@example.com", "-p", "Secret!234", "-o", "json")), &created))
	require.Equal(t, "bob", created.Username)
	require.Contains(t, e.fails("users", "create", "--username", "alice", "--email", "a2@example.com", "--password", "Secret!234"), "already exists")
	require.Contains(t, e.fails("users", "create", "--username", "bad name", "--email", "x@example.com", "--password", "Secret!234"), "username")

	var list []codersdk.User
	require.NoError(t, json.Unmarshal([]byte(e.ok("users", "list", "-o", "json")), &list))
	var names []string
	for _, u := range list {
		names = append(names, u.Username)
	}
	require.Equal(t, []string{"admin", "alice", "bob"}, names)
	table := e.ok("users", "list")
	require.Contains(t, table, "USERNAME")
	require.Contains(t, table, "alice@example.com")

	require.Contains(t, e.ok("users", "suspend", "alice"), "User alice is now suspended.")
	require.NoError(t, json.Unmarshal([]byte(e.ok("users", "list", "--status", "suspended", "-o", "json")), &list))
	require.Len(t, list, 1)
	require.Equal(t, "alice", list[0].Username)
	require.Contains(t, e.ok("users", "activate", created.ID.String()), "User bob is now active.")
	require.Contains(t, e.ok("users", "activate", "alice"), "User alice is now active.")

	var shown codersdk.User
	require.NoError(t, json.Unmarshal([]byte(e.ok("users", "show", "alice", "-o", "json")), &shown))
	require.Equal(t, "Alice A.", shown.Name)
	require.Equal(t, codersdk.UserStatusActive, shown.Status)
	require.Contains(t, e.fails("users", "show", "nobody"), "404")
	require.Contains(t, e.fails("users", "suspend", "admin"), "cannot suspend yourself")
}

func TestTokensCommands(t *testing.T) {
	t.Parallel()
	e, _, srv := loggedIn(t)

	token := strings.TrimSpace(e.ok("tokens", "create", "--name", "ci", "--lifetime", "2h"))
	require.Regexp(t, `^[A-Za-z0-9]{10}-[A-Za-z0-9]{22}$`, token)
	require.Contains(t, e.fails("tokens", "create", "--name", "ci"), "already exists")
	require.Contains(t, e.fails("tokens", "create", "--name", "short", "--lifetime", "1s"), "lifetime")

	// The token works on its own, from a clean config.
	other := newEnv(t)
	require.Contains(t, other.ok("--url", srv.URL.String(), "--token", token, "whoami"), "authenticated as admin")

	var keys []codersdk.APIKey
	require.NoError(t, json.Unmarshal([]byte(e.ok("tokens", "list", "-o", "json")), &keys))
	require.Len(t, keys, 1)
	require.Equal(t, "ci", keys[0].TokenName)
	require.EqualValues(t, 7200, keys[0].LifetimeSeconds)
	require.Contains(t, e.ok("tokens", "ls"), "ci")

	require.Contains(t, e.ok("tokens", "remove", "ci"), "Token ci removed.")
	require.NoError(t, json.Unmarshal([]byte(e.ok("tokens", "list", "-o", "json")), &keys))
	require.Empty(t, keys)
	require.Contains(t, other.fails("--url", srv.URL.String(), "--token", token, "whoami"), "401")
	require.Contains(t, e.fails("tokens", "remove", "ci"), "404")

	// Remove by ID works too.
	e.ok("tokens", "create", "--name", "byid")
	require.NoError(t, json.Unmarshal([]byte(e.ok("tokens", "list", "-o", "json")), &keys))
	require.Len(t, keys, 1)
	e.ok("tokens", "rm", keys[0].ID)
	require.NoError(t, json.Unmarshal([]byte(e.ok("tokens", "list", "-o", "json")), &keys))
	require.Empty(t, keys)
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e, _, srv := loggedIn(t)
	session := e.saved("session")
	require.Contains(t, e.ok("logout"), "You are logged out.")
	_, err := os.Stat(filepath.Join(e.configDir, "session"))
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, e.fails("whoami"), "you are not logged in to "+srv.URL.String())

	// The server forgot the session too.
	c := codersdk.New(srv.URL)
	c.SetSessionToken(session)
	_, err = c.User(testutil.Context(t, 10*time.Second), codersdk.Me)
	require.True(t, codersdk.IsStatus(err, 401), "%v", err)
	// Logging out twice is an error: nobody is logged in.
	require.Contains(t, e.fails("logout"), "not logged in")
}

func TestNotLoggedIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, args := range [][]string{{"whoami"}, {"users", "list"}, {"tokens", "list"}, {"logout"}} {
		require.Contains(t, e.fails(args...), "you are not logged in: run 'coder login <url>'", args)
	}
}

func TestOutputFormatRejected(t *testing.T) {
	t.Parallel()
	e, _, _ := loggedIn(t)
	for _, args := range [][]string{
		{"users", "list", "-o", "yaml"},
		{"users", "show", "me", "--output", "yaml"},
		{"tokens", "list", "-o", "xml"},
		{"whoami", "-o", "yaml"},
		{"version", "-o", "yaml"},
	} {
		require.Contains(t, e.fails(args...), "unknown output format", args)
	}
}

func TestEnvOverridesConfig(t *testing.T) {
	t.Parallel()
	e, client, srv := loggedIn(t)
	ctx := testutil.Context(t, time.Minute)
	member, user := coderdtest.CreateAnotherUser(t, client)

	// Env alone, with nothing saved.
	fresh := newEnv(t)
	fresh.vars["CODER_URL"] = srv.URL.String()
	fresh.vars["CODER_SESSION_TOKEN"] = member.SessionToken()
	require.Contains(t, fresh.ok("whoami"), "authenticated as "+user.Username)

	// Env beats the saved session; a flag beats env.
	e.vars["CODER_SESSION_TOKEN"] = member.SessionToken()
	require.Contains(t, e.ok("whoami"), "authenticated as "+user.Username)
	tok, err := client.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "flag"})
	require.NoError(t, err)
	require.Contains(t, e.ok("--token", tok.Key, "whoami"), "authenticated as admin")

	// CODER_URL pointing elsewhere wins over the saved URL.
	e.vars["CODER_URL"] = "http://127.0.0.1:1"
	require.Contains(t, e.fails("whoami"), "127.0.0.1:1")

	// CODER_CONFIG_DIR names the config directory when the flag is absent.
	var stdout, stderr bytes.Buffer
	code := Main(ctx, []string{"whoami"}, strings.NewReader(""), &stdout, &stderr,
		func(k string) string { return map[string]string{"CODER_CONFIG_DIR": e.configDir}[k] })
	require.Zero(t, code, stderr.String())
	require.Contains(t, stdout.String(), "authenticated as admin")
}

func TestHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out := e.ok("--help")
	for _, cmd := range []string{"login", "logout", "whoami", "users", "tokens", "server", "version"} {
		require.Contains(t, out, cmd)
	}
	require.Contains(t, e.ok("login", "--help"), "Consumes $CODER_FIRST_USER_EMAIL")
	require.Contains(t, e.fails("no-such-command"), "unknown command")
}

// TestAPIErrorsWithoutRequestLine: every command shows the server's message
// and status, never the raw "POST http://...: 400 Bad Request" line.
func TestAPIErrorsWithoutRequestLine(t *testing.T) {
	t.Parallel()
	e, _, srv := loggedIn(t)
	e.ok("tokens", "create", "--name", "dup")
	e.ok("provisioner", "keys", "create", "dup")
	requestLine := regexp.MustCompile(`(GET|POST|PUT|PATCH|DELETE) https?://`)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"users", "show", "nobody"}, "(HTTP 404)"},
		{[]string{"users", "create", "--username", "admin", "--email", "a2@example.com", "--password", "Secret!234"}, "(HTTP 409)"},
		{[]string{"users", "suspend", "admin"}, "cannot suspend yourself"},
		{[]string{"tokens", "create", "--name", "dup"}, "already exists"},
		{[]string{"tokens", "remove", "nope"}, "(HTTP 404)"},
		{[]string{"provisioner", "keys", "create", "dup"}, "already exists"},
		{[]string{"provisioner", "keys", "delete", "nope"}, "(HTTP 404)"},
		{[]string{"templates", "list", "--org", "nope"}, `organization "nope" not found`},
		{[]string{"--token", "aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb", "whoami"}, "(HTTP 401)"},
		{[]string{"--token", "aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb", "provisioner", "list"}, "(HTTP 401)"},
		{[]string{"--token", "aaaaaaaaaa-bbbbbbbbbbbbbbbbbbbbbb", "config-ssh", "--dry-run", "--ssh-config-file", filepath.Join(t.TempDir(), "config")}, "(HTTP 401)"},
		{[]string{"login", srv.URL.String(), "--first-user-email", adminEmail, "--first-user-password", "Wrong!234x"}, "Incorrect email or password"},
	}
	for _, c := range cases {
		stderr := e.fails(c.args...)
		require.Contains(t, stderr, c.want, c.args)
		require.NotRegexp(t, requestLine, stderr, c.args)
	}
}

// TestOrgFlagEnv: every --org reads $CODER_ORGANIZATION.
func TestOrgFlagEnv(t *testing.T) {
	t.Parallel()
	e, _, _ := loggedIn(t)
	e.vars["CODER_ORGANIZATION"] = "nope"
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte("# x"), 0o600))
	for _, args := range [][]string{
		{"templates", "list"},
		{"templates", "versions", "list", "x"},
		{"templates", "delete", "x", "-y"},
		{"templates", "push", "x", "-d", dir, "-y"},
		{"create", "ws", "-t", "x"},
		{"provisioner", "list"},
		{"provisioner", "keys", "list"},
		{"provisioner", "keys", "create", "k"},
		{"provisioner", "keys", "delete", "k"},
	} {
		require.Contains(t, e.fails(args...), `organization "nope" not found`, args)
	}
	for _, args := range [][]string{{"templates", "list"}, {"provisioner", "list"}, {"provisioner", "keys", "create"}, {"create"}} {
		require.Contains(t, e.ok(append(args, "--help")...), "Consumes $CODER_ORGANIZATION", args)
	}
}
