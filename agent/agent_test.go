package agent_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestMain gives the tests their PostgreSQL and, once every test and its
// cleanups ran, checks that no goroutine outlived them: every goroutine an
// agent starts must have ended when Run returns.
func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(dbtestutil.Main(m))) }

// setupWorkspace makes a running workspace whose build reported one agent
// with the given scripts, playing the provisioner daemon by hand.
// Benchmarks use it too.
func setupWorkspace(t testing.TB, opts *coderdtest.Options, scripts []codersdk.ProvisionerScript) (owner *codersdk.Client, agentID uuid.UUID, token string) {
	t.Helper()
	if opts == nil {
		opts = &coderdtest.Options{}
	}
	opts.ProvisionerPSK = coderdtest.TestPSK
	owner, _ = coderdtest.New(t, opts)
	first := coderdtest.CreateFirstUser(t, owner)
	daemon := coderdtest.DaemonClient(owner)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	token = uuid.NewString()
	id := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, id, nil)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{
		State: []byte("{}"),
		Resources: []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
			Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Directory: t.TempDir(),
			// SHLVL: bash sources ~/.bashrc for a command run over SSH
			// unless SHLVL says it is nested; the machine user's rc files
			// (which may put their own directories first on PATH) are not
			// what these tests measure, whatever shell started go test.
			Env: map[string]string{"FROM_TEMPLATE": "yes", "SHLVL": "1"}, Scripts: scripts,
		}}}},
	}}))
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	return owner, ws.LatestBuild.Resources[0].Agents[0].ID, token
}

func startAgent(t *testing.T, owner *codersdk.Client, token string) (stop func()) {
	t.Helper()
	client := codersdk.New(owner.URL)
	client.SetSessionToken(token)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.New(agent.Options{Client: client, Logger: testutil.Logger(t)}).Run(ctx)
	}()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(60 * time.Second):
			t.Error("agent did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

func awaitLifecycle(t *testing.T, c *codersdk.Client, id uuid.UUID, want codersdk.WorkspaceAgentLifecycle) codersdk.WorkspaceAgent {
	t.Helper()
	ctx := testutil.Context(t, time.Minute)
	var got codersdk.WorkspaceAgent
	require.Eventually(t, func() bool {
		a, err := c.WorkspaceAgent(ctx, id)
		got = a
		return err == nil && a.LifecycleState == want
	}, 60*time.Second, 50*time.Millisecond, "lifecycle %s, want %s", got.LifecycleState, want)
	return got
}

func TestAgentStartupAndSSH(t *testing.T) {
	t.Parallel()
	owner, agentID, token := setupWorkspace(t, nil, []codersdk.ProvisionerScript{
		{DisplayName: "Startup Script", Script: "echo hello-from-startup; echo coder=$CODER template=$FROM_TEMPLATE", RunOnStart: true},
		{DisplayName: "Shutdown Script", Script: "echo bye", RunOnStop: true},
	})
	stop := startAgent(t, owner, token)
	a := awaitLifecycle(t, owner, agentID, codersdk.WorkspaceAgentLifecycleReady)
	require.NotNil(t, a.StartedAt)
	require.NotNil(t, a.ReadyAt)
	ctx := testutil.Context(t, 2*time.Minute)
	require.Eventually(t, func() bool {
		logs, err := owner.WorkspaceAgentLogs(ctx, agentID, 0)
		if err != nil {
			return false
		}
		var all []string
		for _, l := range logs {
			all = append(all, l.Output)
		}
		joined := strings.Join(all, "\n")
		return strings.Contains(joined, "hello-from-startup") && strings.Contains(joined, "coder=true template=yes")
	}, 30*time.Second, 50*time.Millisecond)

	conn, err := agentconn.Dial(ctx, owner, agentID, agentconn.Options{})
	require.NoError(t, err)
	defer conn.Close()
	require.True(t, conn.AwaitReachable(ctx))
	nc, err := conn.SSH(ctx)
	require.NoError(t, err)
	sc, chans, reqs, err := gossh.NewClientConn(nc, "agent", &gossh.ClientConfig{User: "me", HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	require.NoError(t, err)
	client := gossh.NewClient(sc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	require.NoError(t, err)
	out, err := sess.Output("echo ok; echo $FROM_TEMPLATE")
	require.NoError(t, err)
	require.Equal(t, "ok\nyes\n", string(out))
	sess, err = client.NewSession()
	require.NoError(t, err)
	err = sess.Run("exit 7")
	var exit *gossh.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	require.Equal(t, 7, exit.ExitStatus())

	// Someone else cannot coordinate with this agent.
	other, _ := coderdtest.CreateAnotherUser(t, owner)
	_, err = agentconn.Dial(ctx, other, agentID, agentconn.Options{})
	require.True(t, codersdk.IsStatus(err, http.StatusNotFound), "%v", err)

	stop()
	awaitLifecycle(t, owner, agentID, codersdk.WorkspaceAgentLifecycleOff)
}

func TestAgentStartError(t *testing.T) {
	t.Parallel()
	owner, agentID, token := setupWorkspace(t, nil, []codersdk.ProvisionerScript{
		{DisplayName: "Startup Script", Script: "echo failing >&2; exit 3", RunOnStart: true},
	})
	startAgent(t, owner, token)
	awaitLifecycle(t, owner, agentID, codersdk.WorkspaceAgentLifecycleStartError)
}

// An unknown token is refused, and the agent keeps retrying (its build may
// still be being recorded) while saying why, until it is stopped.
func TestAgentRejectsBadToken(t *testing.T) {
	t.Parallel()
	owner, _, _ := setupWorkspace(t, nil, nil)
	client := codersdk.New(owner.URL)
	client.SetSessionToken(uuid.NewString())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var logs testutil.LockedBuffer
	err := agent.New(agent.Options{Client: client, Logger: testutil.TeeLogger(t, &logs)}).Run(ctx)
	require.NoError(t, err, "stopping a waiting agent is not an error")
	require.Contains(t, logs.String(), "Invalid agent token")
}

func TestBrowserOnlyRefusesCLI(t *testing.T) {
	t.Parallel()
	owner, agentID, token := setupWorkspace(t, &coderdtest.Options{BrowserOnly: true}, nil)
	startAgent(t, owner, token)
	ctx := testutil.Context(t, 30*time.Second)
	_, err := agentconn.Dial(ctx, owner, agentID, agentconn.Options{})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "%v", err)
	require.Contains(t, err.Error(), "browser")
}
