package coderd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// This file holds the matrices of the routes with an auth scheme of their
// own: workspace agents (their agent token), provisioner daemons (a
// provisioner key, the pre-shared key, or an admin's session) and the DERP
// relay (WireGuard node keys, inside the upgraded connection), plus the
// public agent binaries. TestAuthzMatrixCoversRoutes counts their rows with
// the user matrices'.

// agentCaller is one column of the agent matrix: a token presented to
// /api/v2/workspaceagents/me, which only workspace agents may use.
type agentCaller string

const (
	agentNoToken   agentCaller = "no-token"
	agentNotUUID   agentCaller = "non-uuid-token"
	agentUnknown   agentCaller = "unknown-token"
	agentSession   agentCaller = "workspace-owner-session"
	agentOldBuild  agentCaller = "old-build-token"
	agentDeletedWS agentCaller = "deleted-workspace-token"
	agentCurrent   agentCaller = "current-token"
	// agentStopping is the agent of a build whose stop build is running:
	// it may still make its shutdown reports, nothing else.
	agentStopping agentCaller = "stopping-build-token"
)

var agentCallers = []agentCaller{agentNoToken, agentNotUUID, agentUnknown, agentSession, agentOldBuild, agentDeletedWS, agentCurrent, agentStopping}

// agentShutdownRoutes are the routes the stopping agent may call: its stop
// scripts' output and results, and its lifecycle.
var agentShutdownRoutes = map[string]bool{
	"/api/v2/workspaceagents/me/report-lifecycle": true,
	"/api/v2/workspaceagents/me/logs":             true,
	"/api/v2/workspaceagents/me/script-completed": true,
}

// agentRefusal is the message each refused caller gets, proving the right
// check refused it.
var agentRefusal = map[agentCaller]string{
	agentNoToken: "Invalid agent token.", agentNotUUID: "Invalid agent token.", agentUnknown: "Invalid agent token.",
	agentSession: "Invalid agent token.", agentOldBuild: "old build", agentDeletedWS: "old build", agentStopping: "old build",
}

// agentRow is one agent route: every caller but the current agent gets
// 401, the current agent ok.
type agentRow struct {
	name, method string
	route        string // also the path: these routes have no parameters
	body         any
	websocket    bool
	ok           int
}

var agentMatrix = []agentRow{
	{"manifest", "GET", "/api/v2/workspaceagents/me/manifest", nil, false, 200},
	{"report lifecycle", "POST", "/api/v2/workspaceagents/me/report-lifecycle", codersdk.PostLifecycleRequest{State: codersdk.WorkspaceAgentLifecycleStarting}, false, 204},
	{"report startup", "POST", "/api/v2/workspaceagents/me/startup", codersdk.PostStartupRequest{Version: "v2.0.0", ExpandedDirectory: "/home/coder", Subsystems: []string{}}, false, 204},
	{"append logs", "PATCH", "/api/v2/workspaceagents/me/logs", codersdk.PatchLogsRequest{Logs: []codersdk.AgentLog{{Output: "hello", Source: "Startup Script"}}}, false, 200},
	{"report stats", "POST", "/api/v2/workspaceagents/me/report-stats", codersdk.AgentStats{ConnectionCount: 1, RxBytes: 10, TxBytes: 20}, false, 200},
	{"report listening ports", "POST", "/api/v2/workspaceagents/me/listening-ports", codersdk.ListeningPortsResponse{Ports: []codersdk.ListeningPort{{ProcessName: "sshd", Network: "tcp", Port: 22}}}, false, 204},
	{"report app health", "POST", "/api/v2/workspaceagents/me/app-health", codersdk.PostWorkspaceAppHealthsRequest{Healths: map[string]codersdk.WorkspaceAppHealth{}}, false, 204},
	{"report metadata", "POST", "/api/v2/workspaceagents/me/metadata", codersdk.PostAgentMetadataRequest{Metadata: []codersdk.AgentMetadataReport{}}, false, 204},
	{"report script completed", "POST", "/api/v2/workspaceagents/me/script-completed", codersdk.PostAgentScriptCompletedRequest{ScriptIndex: 0, DisplayName: "Startup Script",
		Stage: codersdk.AgentScriptStageStart, StartedAt: time.Unix(1e9, 0), EndedAt: time.Unix(1e9+1, 0), Status: codersdk.AgentScriptStatusOK}, false, 204},
	{"git ssh key", "GET", "/api/v2/workspaceagents/me/gitsshkey", nil, false, 200},
	{"coordinate", "GET", "/api/v2/workspaceagents/me/coordinate", nil, true, 101},
}

// agentFixture is a deployment with a workspace rebuilt once (so its first
// agent token is stale), a deleted workspace, and a workspace whose stop
// build is queued (its agent is shutting down).
type agentFixture struct {
	srv      *coderdtest.Server
	owner    *codersdk.Client
	tokens   map[agentCaller]string
	oldAgent uuid.UUID // the agent of the first build
	current  uuid.UUID // the agent of the latest build
	stopping uuid.UUID // the agent of the build a queued stop replaces
}

// newAgentFixture builds a workspace for the owner as a daemon would: build
// 1 reports an agent with one token, build 2 another.
func newAgentFixture(t *testing.T) *agentFixture {
	t.Helper()
	owner, daemon, org, srv := setupQueue(t, nil)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "agents", VersionID: v.ID})
	require.NoError(t, err)
	f := &agentFixture{srv: srv, owner: owner, tokens: map[agentCaller]string{
		agentNoToken: "", agentNotUUID: "not-a-uuid", agentUnknown: uuid.NewString(), agentSession: owner.SessionToken(),
		agentOldBuild: uuid.NewString(), agentDeletedWS: uuid.NewString(), agentCurrent: uuid.NewString(), agentStopping: uuid.NewString(),
	}}
	agentOf := func(id uuid.UUID) uuid.UUID {
		ws, err := owner.Workspace(ctx, id)
		require.NoError(t, err)
		return ws.LatestBuild.Resources[0].Agents[0].ID
	}

	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "rebuilt"})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, f.tokens[agentOldBuild])
	f.oldAgent = agentOf(ws.ID)
	b, err := owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart})
	require.NoError(t, err)
	// The current agent has a script, for the script-completed row.
	coderdtest.CompleteBuildWith(t, daemon, b.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
		Name: "main", Token: f.tokens[agentCurrent], Auth: "token", OS: "linux", Arch: "amd64",
		Scripts: []codersdk.ProvisionerScript{{DisplayName: "Startup Script", Script: "true", RunOnStart: true}},
	}}}})
	f.current = agentOf(ws.ID)
	require.NotEqual(t, f.oldAgent, f.current)

	gone, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "deleted"})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, gone.LatestBuild.ID, f.tokens[agentDeletedWS])
	b, err = owner.CreateWorkspaceBuild(ctx, gone.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionDelete})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, b.ID, uuid.NewString())

	// Last, as no daemon takes its stop build.
	stopping, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "stopping"})
	require.NoError(t, err)
	// Its agent has the script the script-completed row reports.
	coderdtest.CompleteBuildWith(t, daemon, stopping.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
		Name: "main", Token: f.tokens[agentStopping], Auth: "token", OS: "linux", Arch: "amd64",
		Scripts: []codersdk.ProvisionerScript{{DisplayName: "Startup Script", Script: "true", RunOnStart: true}},
	}}}})
	f.stopping = agentOf(stopping.ID)
	_, err = owner.CreateWorkspaceBuild(ctx, stopping.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	return f
}

func TestAuthzAgentMatrix(t *testing.T) {
	t.Parallel()
	f := newAgentFixture(t)
	t.Run("matrix", func(t *testing.T) {
		for _, row := range agentMatrix {
			t.Run(row.name, func(t *testing.T) {
				t.Parallel()
				for _, c := range agentCallers {
					t.Run(string(c), func(t *testing.T) {
						t.Parallel()
						ctx := testutil.Context(t, time.Minute)
						var res rawResponse
						if row.websocket {
							res = dialWS(ctx, t, f.srv, row.route, f.tokens[c])
						} else {
							res = call(ctx, t, f.srv, row.method, row.route, f.tokens[c], row.body)
						}
						if c == agentCurrent || (c == agentStopping && agentShutdownRoutes[row.route]) {
							require.Equal(t, row.ok, res.status, "%s %s as %s: %s", row.method, row.route, c, res.body)
							return
						}
						require.Equal(t, http.StatusUnauthorized, res.status, "%s %s as %s: %s", row.method, row.route, c, res.body)
						require.Contains(t, res.response(t).Message, agentRefusal[c])
					})
				}
			})
		}
	})
	t.Run("refused agents changed nothing", func(t *testing.T) {
		ctx := testutil.Context(t, time.Minute)
		old, err := f.owner.WorkspaceAgent(ctx, f.oldAgent)
		require.NoError(t, err)
		require.Equal(t, codersdk.WorkspaceAgentLifecycleCreated, old.LifecycleState)
		require.Empty(t, old.Version)
		logs, err := f.owner.WorkspaceAgentLogs(ctx, f.oldAgent, 0)
		require.NoError(t, err)
		require.Empty(t, logs)
		ports, err := f.owner.WorkspaceAgentListeningPorts(ctx, f.oldAgent)
		require.NoError(t, err)
		require.Empty(t, ports.Ports)

		cur, err := f.owner.WorkspaceAgent(ctx, f.current)
		require.NoError(t, err)
		require.Equal(t, "v2.0.0", cur.Version)
		logs, err = f.owner.WorkspaceAgentLogs(ctx, f.current, 0)
		require.NoError(t, err)
		require.Len(t, logs, 1)
	})
}

// derpPaths are the DERP relay's mounts; derpMethods every method chi
// routes to a mounted handler.
var (
	derpPaths   = []string{"/derp", "/derp/*"}
	derpMethods = []string{"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)

func derpRoutes() []string {
	var out []string
	for _, p := range derpPaths {
		for _, m := range derpMethods {
			out = append(out, m+" "+p)
		}
	}
	return out
}

// TestAuthzDERPMatrix: the relay authenticates peers by their WireGuard
// node keys inside the upgraded connection, not by sessions. Without an
// upgrade it refuses every request alike, whoever asks.
func TestAuthzDERPMatrix(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	for _, p := range []string{"/derp", "/derp/anything"} {
		for _, m := range derpMethods {
			for _, token := range []string{"", client.SessionToken()} {
				ctx := testutil.Context(t, 30*time.Second)
				res := call(ctx, t, srv, m, p, token, nil)
				require.Equal(t, http.StatusUpgradeRequired, res.status, "%s %s (session %t): %s", m, p, token != "", res.body)
			}
		}
	}
}

// TestAgentBinaryIsPublic: workspaces download the agent before they hold
// any credential.
func TestAgentBinaryIsPublic(t *testing.T) {
	t.Parallel()
	_, srv := coderdtest.New(t, nil)
	ctx := testutil.Context(t, 30*time.Second)
	res := call(ctx, t, srv, "GET", "/bin/coder-"+runtime.GOOS+"-"+runtime.GOARCH, "", nil, codersdk.WithHeader("Range", "bytes=0-3"))
	require.Equal(t, http.StatusPartialContent, res.status, "%s", res.body)
	exe, err := os.Executable()
	require.NoError(t, err)
	fh, err := os.Open(exe)
	require.NoError(t, err)
	defer fh.Close()
	head := make([]byte, 4)
	_, err = io.ReadFull(fh, head)
	require.NoError(t, err)
	require.Equal(t, head, res.body, "it serves this very binary")
}

// dialWS opens a websocket to path as token and closes it at once. It
// returns the handshake's answer: 101 when the upgrade succeeded.
func dialWS(ctx context.Context, t testing.TB, srv *coderdtest.Server, path, token string) rawResponse {
	t.Helper()
	u := *srv.URL
	u.Scheme = "ws"
	h := http.Header{}
	if token != "" {
		h.Set(codersdk.SessionTokenHeader, token)
	}
	conn, resp, err := websocket.Dial(ctx, u.String()+path, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		_ = conn.CloseNow()
		return rawResponse{status: resp.StatusCode, header: resp.Header}
	}
	require.NotNil(t, resp, "dial %s: %v", path, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

// daemonCaller is one column of the daemon matrix: a way of authenticating
// to /api/v2/provisionerdaemons/jobs, which takes a provisioner key, the
// pre-shared key, or the session of someone who may manage provisioners.
type daemonCaller string

const (
	daemonNone          daemonCaller = "no-credentials"
	daemonWrongPSK      daemonCaller = "wrong-psk"
	daemonNotAKey       daemonCaller = "key-without-prefix"
	daemonUnknownKey    daemonCaller = "unknown-key"
	daemonDeletedKey    daemonCaller = "deleted-key"
	daemonKeyAndPSK     daemonCaller = "key-and-psk"
	daemonExpired       daemonCaller = "expired-session"
	daemonMember        daemonCaller = "member-session"
	daemonUserAdmin     daemonCaller = "user-admin-session"
	daemonAuditor       daemonCaller = "auditor-session"
	daemonTemplateAdmin daemonCaller = "template-admin-session"
	daemonOwner         daemonCaller = "owner-session"
	daemonKey           daemonCaller = "provisioner-key"
	daemonOtherOrgKey   daemonCaller = "other-organization-key"
	daemonPSK           daemonCaller = "psk"
)

var daemonCallers = []daemonCaller{daemonNone, daemonWrongPSK, daemonNotAKey, daemonUnknownKey, daemonDeletedKey, daemonKeyAndPSK,
	daemonExpired, daemonMember, daemonUserAdmin, daemonAuditor, daemonTemplateAdmin, daemonOwner, daemonKey, daemonOtherOrgKey, daemonPSK}

// daemonExpect: refused credentials 401, both kinds at once 400, sessions
// without the right 403, the rest ok; a key of another organization gets
// otherOrg (it may not touch this organization's jobs).
func daemonExpect(ok, otherOrg int) map[daemonCaller]int {
	e := map[daemonCaller]int{daemonKeyAndPSK: 400, daemonOtherOrgKey: otherOrg}
	for _, c := range []daemonCaller{daemonNone, daemonWrongPSK, daemonNotAKey, daemonUnknownKey, daemonDeletedKey, daemonExpired} {
		e[c] = 401
	}
	for _, c := range []daemonCaller{daemonMember, daemonUserAdmin, daemonAuditor} {
		e[c] = 403
	}
	for _, c := range []daemonCaller{daemonTemplateAdmin, daemonOwner, daemonKey, daemonPSK} {
		e[c] = ok
	}
	return e
}

// runningJob is an import acquired by daemon, waiting for its report.
type runningJob struct{ version, job, daemon uuid.UUID }

// daemonRow is one daemon route. Every cell has its own running job.
type daemonRow struct {
	name  string
	route string // all POST
	path  func(j runningJob) string
	body  func(j runningJob) any
	want  map[daemonCaller]int
}

func jobPath(suffix string) func(runningJob) string {
	return func(j runningJob) string { return "/api/v2/provisionerdaemons/jobs/" + j.job.String() + suffix }
}

var daemonMatrix = []daemonRow{
	{"acquire", "/api/v2/provisionerdaemons/jobs/acquire", func(runningJob) string { return "/api/v2/provisionerdaemons/jobs/acquire" },
		func(runningJob) any { return codersdk.AcquireJobRequest{DaemonID: uuid.New()} }, daemonExpect(204, 204)},
	{"update", "/api/v2/provisionerdaemons/jobs/{job}/update", jobPath("/update"),
		func(j runningJob) any {
			return codersdk.UpdateJobRequest{DaemonID: j.daemon, Logs: []codersdk.ProvisionerLog{{Level: "info", Output: "planning"}}}
		}, daemonExpect(200, 404)},
	{"complete", "/api/v2/provisionerdaemons/jobs/{job}/complete", jobPath("/complete"),
		func(j runningJob) any {
			return codersdk.CompleteJobRequest{DaemonID: j.daemon, TemplateImport: &codersdk.CompletedTemplateImport{}}
		}, daemonExpect(200, 404)},
	{"fail", "/api/v2/provisionerdaemons/jobs/{job}/fail", jobPath("/fail"),
		func(j runningJob) any { return codersdk.FailJobRequest{DaemonID: j.daemon, Error: "boom"} }, daemonExpect(200, 404)},
}

func TestAuthzDaemonMatrix(t *testing.T) {
	t.Parallel()
	// Jobs stay running for the whole test: no reaping.
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, HeartbeatTimeout: time.Hour})
	first := coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, 2*time.Minute)
	session := func(roles ...string) string {
		c, _ := coderdtest.CreateAnotherUser(t, client, roles...)
		return c.SessionToken()
	}
	newKey := func(org uuid.UUID, name string) string {
		k, err := client.CreateProvisionerKey(ctx, org, codersdk.CreateProvisionerKeyRequest{Name: name})
		require.NoError(t, err)
		return k.Key
	}
	otherOrg := uuid.New()
	_, err := srv.DB.Pool().Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, 'elsewhere')`, otherOrg)
	require.NoError(t, err)
	deleted := newKey(first.OrganizationID, "deleted")
	require.NoError(t, client.DeleteProvisionerKey(ctx, first.OrganizationID, "deleted"))
	key, otherKey := newKey(first.OrganizationID, "fleet"), newKey(otherOrg, "elsewhere")
	taUser, _ := coderdtest.CreateAnotherUser(t, client, codersdk.RoleTemplateAdmin)
	expired, _ := mintToken(ctx, t, srv.DB, mustMe(ctx, t, taUser).ID, time.Now().Add(-time.Minute), "")

	type header struct{ token, key, psk string }
	creds := map[daemonCaller]header{
		daemonNone: {}, daemonWrongPSK: {psk: "wrong"}, daemonNotAKey: {key: "not-a-key"},
		daemonUnknownKey: {key: "cpk_" + uuid.NewString()}, daemonDeletedKey: {key: deleted},
		daemonKeyAndPSK: {key: key, psk: coderdtest.TestPSK}, daemonExpired: {token: expired},
		daemonMember: {token: session()}, daemonUserAdmin: {token: session(codersdk.RoleUserAdmin)},
		daemonAuditor: {token: session(codersdk.RoleAuditor)}, daemonTemplateAdmin: {token: taUser.SessionToken()},
		daemonOwner: {token: client.SessionToken()}, daemonKey: {key: key}, daemonOtherOrgKey: {key: otherKey},
		daemonPSK: {psk: coderdtest.TestPSK},
	}

	// One running job per cell, acquired by the PSK daemon as soon as it is
	// queued, so each acquisition takes the job just made.
	psk := coderdtest.DaemonClient(client)
	up, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, mainTF)))
	require.NoError(t, err)
	jobs := map[string]map[daemonCaller]runningJob{}
	for _, row := range daemonMatrix[1:] {
		jobs[row.name] = map[daemonCaller]runningJob{}
		for _, c := range daemonCallers {
			v, err := client.CreateTemplateVersion(ctx, first.OrganizationID, codersdk.CreateTemplateVersionRequest{StorageMethod: "file", Provisioner: "terraform", FileID: up.ID})
			require.NoError(t, err)
			d := uuid.New()
			j := coderdtest.AcquireJob(t, psk, d, nil)
			require.Equal(t, v.Job.ID, j.JobID)
			jobs[row.name][c] = runningJob{version: v.ID, job: j.JobID, daemon: d}
		}
	}

	t.Run("matrix", func(t *testing.T) {
		for _, row := range daemonMatrix {
			t.Run(row.name, func(t *testing.T) {
				t.Parallel()
				for _, c := range daemonCallers {
					t.Run(string(c), func(t *testing.T) {
						t.Parallel()
						ctx := testutil.Context(t, time.Minute)
						j := jobs[row.name][c]
						var opts []codersdk.RequestOption
						if h := creds[c]; h.key != "" {
							opts = append(opts, codersdk.WithHeader(codersdk.ProvisionerDaemonKeyHeader, h.key))
						}
						if h := creds[c]; h.psk != "" {
							opts = append(opts, codersdk.WithHeader(codersdk.ProvisionerDaemonPSKHeader, h.psk))
						}
						res := call(ctx, t, srv, "POST", row.path(j), creds[c].token, row.body(j), opts...)
						require.Equal(t, row.want[c], res.status, "%s as %s: %s", row.name, c, res.body)
						if res.status >= 400 {
							require.NotEmpty(t, res.response(t).Message)
						}
					})
				}
			})
		}
	})

	t.Run("refused daemons changed nothing", func(t *testing.T) {
		ctx := testutil.Context(t, time.Minute)
		for _, row := range daemonMatrix[1:] {
			for _, c := range daemonCallers {
				v, err := client.TemplateVersion(ctx, jobs[row.name][c].version)
				require.NoError(t, err)
				accepted := row.want[c] < 400
				ended := accepted && row.name != "update"
				require.Equal(t, !ended, v.Job.Status == codersdk.ProvisionerJobRunning, "%s as %s: job is %s", row.name, c, v.Job.Status)
				logs, err := client.Request(ctx, "GET", "/api/v2/templateversions/"+v.ID.String()+"/logs", nil)
				require.NoError(t, err)
				var lines []codersdk.ProvisionerJobLog
				require.NoError(t, json.NewDecoder(logs.Body).Decode(&lines))
				_ = logs.Body.Close()
				require.Equal(t, row.name == "update" && accepted, len(lines) == 1, "%s as %s: %d log lines", row.name, c, len(lines))
			}
		}
	})
}

func mustMe(ctx context.Context, t *testing.T, c *codersdk.Client) codersdk.User {
	t.Helper()
	u, err := c.User(ctx, codersdk.Me)
	require.NoError(t, err)
	return u
}
