package coderd_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// ptyDeployment is a deployment whose owner has a running workspace with a
// real agent running in this process.
type ptyDeployment struct {
	srv     *coderdtest.Server
	owner   *codersdk.Client
	agentID uuid.UUID
	token   string // the agent's
}

// newPTYDeployment builds the workspace; startAgent runs its agent.
func newPTYDeployment(t testing.TB, opts *coderdtest.Options) *ptyDeployment {
	t.Helper()
	if opts == nil {
		opts = &coderdtest.Options{}
	}
	opts.ProvisionerPSK = coderdtest.TestPSK
	owner, srv := coderdtest.New(t, opts)
	org := coderdtest.CreateFirstUser(t, owner).OrganizationID
	daemon := coderdtest.DaemonClient(owner)
	ws, token := agentWorkspace(t, owner, daemon, org, "pty")
	return &ptyDeployment{srv: srv, owner: owner, agentID: ws.LatestBuild.Resources[0].Agents[0].ID, token: token}
}

// agentWorkspace imports a template named name and builds the owner a
// running workspace of the same name, playing the daemon: one resource
// with one agent, which authenticates with the returned token. The
// workspace is as read after the build.
func agentWorkspace(t testing.TB, owner, daemon *codersdk.Client, org uuid.UUID, name string) (codersdk.Workspace, string) {
	t.Helper()
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: name, VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: name})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, token)
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	return ws, token
}

// startAgent runs the workspace's agent until the test ends, and waits
// until coderd reaches it over the tailnet.
func (d *ptyDeployment) startAgent(t testing.TB) {
	t.Helper()
	client := codersdk.New(d.owner.URL)
	client.SetSessionToken(d.token)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.New(agent.Options{Client: client, Logger: slog.New(slog.DiscardHandler)}).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(testutil.WaitLong):
			t.Error("agent did not stop")
		}
	})
	wctx := testutil.Context(t, testutil.WaitLong)
	require.Eventually(t, func() bool {
		_, err := d.owner.WorkspaceAgentPing(wctx, d.agentID)
		return err == nil
	}, testutil.WaitLong, 100*time.Millisecond, "coderd never reached the agent")
}

// testShell is the terminals' command: a plain sh, not the user's login
// shell, whose profile scripts belong to the machine (on some they take a
// minute) and are not what these tests are about.
const testShell = "exec sh"

// terminal is one web terminal websocket, read into out.
type terminal struct {
	t    testing.TB
	ws   *websocket.Conn
	out  testutil.LockedBuffer
	done chan struct{}
	// closeStatus is how the server closed the websocket (-1 until then).
	closeStatus websocket.StatusCode
}

func openTerminal(ctx context.Context, t testing.TB, c *codersdk.Client, agentID, id uuid.UUID, w, h uint16) *terminal {
	t.Helper()
	ws, err := c.WorkspaceAgentPTY(ctx, agentID, codersdk.WorkspaceAgentPTYOptions{Reconnect: id, Width: w, Height: h, Command: testShell})
	require.NoError(t, err)
	term := &terminal{t: t, ws: ws, done: make(chan struct{}), closeStatus: -1}
	go func() {
		defer close(term.done)
		for {
			typ, b, err := ws.Read(context.Background())
			if err != nil {
				term.closeStatus = websocket.CloseStatus(err)
				return
			}
			if typ == websocket.MessageBinary {
				_, _ = term.out.Write(b)
			}
		}
	}()
	t.Cleanup(term.close)
	return term
}

func (term *terminal) send(ctx context.Context, req codersdk.ReconnectingPTYRequest) {
	term.t.Helper()
	require.NoError(term.t, wsjson.Write(ctx, term.ws, req))
}

func (term *terminal) waitFor(substr string) {
	term.t.Helper()
	require.Eventually(term.t, func() bool { return strings.Contains(term.out.String(), substr) },
		testutil.WaitLong, 20*time.Millisecond, "terminal never showed %q; it showed %q", substr, term.out.String())
}

// close detaches (the terminal keeps running on the agent). Idempotent.
func (term *terminal) close() {
	_ = term.ws.Close(websocket.StatusNormalClosure, "")
	<-term.done
}

func TestWorkspaceAgentPTY(t *testing.T) {
	t.Parallel()
	d := newPTYDeployment(t, nil)
	d.startAgent(t)
	ctx := testutil.Context(t, testutil.WaitLong)

	id := uuid.New()
	term := openTerminal(ctx, t, d.owner, d.agentID, id, 80, 24)
	term.send(ctx, codersdk.ReconnectingPTYRequest{Data: "echo hi-$((6*7))\r"})
	term.waitFor("hi-42")

	term.send(ctx, codersdk.ReconnectingPTYRequest{Height: 33, Width: 101})
	term.send(ctx, codersdk.ReconnectingPTYRequest{Data: "stty size\r"})
	term.waitFor("33 101")

	// Detach, then reattach with the same id: the scrollback is replayed.
	term.send(ctx, codersdk.ReconnectingPTYRequest{Data: "echo before-$((2+3))\r"})
	term.waitFor("before-5")
	term.close()
	again := openTerminal(ctx, t, d.owner, d.agentID, id, 80, 24)
	again.waitFor("hi-42")
	again.waitFor("before-5")
	again.send(ctx, codersdk.ReconnectingPTYRequest{Data: "echo after-$((3+4))\r"})
	again.waitFor("after-7")

	// The process ending closes the websocket normally.
	again.send(ctx, codersdk.ReconnectingPTYRequest{Data: "exit\r"})
	select {
	case <-again.done:
	case <-ctx.Done():
		t.Fatal("the websocket stayed open after the shell exited")
	}
	require.Equal(t, websocket.StatusNormalClosure, again.closeStatus)

	// Another member may not even see the agent.
	other, _ := coderdtest.CreateAnotherUser(t, d.owner)
	_, err := other.WorkspaceAgentPTY(ctx, d.agentID, codersdk.WorkspaceAgentPTYOptions{Reconnect: id, Width: 80, Height: 24})
	requireStatus(t, err, http.StatusNotFound)
	_, err = other.WorkspaceAgentPing(ctx, d.agentID)
	requireStatus(t, err, http.StatusNotFound)

	p, err := d.owner.WorkspaceAgentPing(ctx, d.agentID)
	require.NoError(t, err)
	require.Positive(t, p.LatencyMS)

	// A page on another origin may not open the websocket (the library's
	// default same-origin check).
	u := "ws" + strings.TrimPrefix(d.owner.URL.String(), "http") + "/api/v2/workspaceagents/" + d.agentID.String() +
		"/pty?width=80&height=24&reconnect=" + uuid.NewString()
	_, res, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{
		"Origin": {"https://evil.example"}, codersdk.SessionTokenHeader: {d.owner.SessionToken()},
	}})
	require.Error(t, err)
	require.NotNil(t, res)
	require.Equal(t, http.StatusForbidden, res.StatusCode)
}

// Relay-only and browser-only deployments: the terminal works through
// coderd's own node either way (and the CLI stays refused under
// browser-only).
func TestWorkspaceAgentPTYPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts coderdtest.Options
	}{
		{"block direct", coderdtest.Options{BlockDirect: true}},
		{"browser only", coderdtest.Options{BrowserOnly: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := tc.opts
			d := newPTYDeployment(t, &opts)
			d.startAgent(t)
			ctx := testutil.Context(t, testutil.WaitLong)
			term := openTerminal(ctx, t, d.owner, d.agentID, uuid.New(), 80, 24)
			term.send(ctx, codersdk.ReconnectingPTYRequest{Data: "echo hi-$((6*7))\r"})
			term.waitFor("hi-42")
			p, err := d.owner.WorkspaceAgentPing(ctx, d.agentID)
			require.NoError(t, err)
			if opts.BlockDirect {
				require.False(t, p.P2P, "relay only")
				require.NotZero(t, p.DERPRegionID)
				require.NotEmpty(t, p.DERPRegion)
			}
			if opts.BrowserOnly {
				_, err := d.owner.DialWorkspaceAgentCoordinator(ctx, d.agentID)
				requireStatus(t, err, http.StatusConflict)
			}
		})
	}
}

func TestWorkspaceAgentPTYRefusals(t *testing.T) {
	t.Parallel()
	d := newPTYDeployment(t, nil)
	base := "/api/v2/workspaceagents/" + d.agentID.String()
	good := "reconnect=" + uuid.NewString() + "&width=80&height=24"

	for _, tc := range []struct {
		name, query, field string
	}{
		{"no reconnect", "width=80&height=24", "reconnect"},
		{"reconnect not a uuid", "reconnect=abc&width=80&height=24", "reconnect"},
		{"no width", "reconnect=" + uuid.NewString() + "&height=24", "width"},
		{"zero width", "reconnect=" + uuid.NewString() + "&width=0&height=24", "width"},
		{"huge height", "reconnect=" + uuid.NewString() + "&width=80&height=100000", "height"},
		{"negative height", "reconnect=" + uuid.NewString() + "&width=80&height=-3", "height"},
		{"long command", good + "&command=" + strings.Repeat("x", codersdk.ReconnectingPTYMaxCommand+1), "command"},
		{"command with a control character", good + "&command=ls%0a", "command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, testutil.WaitLong) // its own: parallel subtests may wait for a slot
			res := call(ctx, t, d.srv, http.MethodGet, base+"/pty?"+tc.query, d.owner.SessionToken(), nil)
			require.Equal(t, http.StatusBadRequest, res.status, "%s", res.body)
			resp := res.response(t)
			require.Len(t, resp.Validations, 1, "%+v", resp)
			require.Equal(t, tc.field, resp.Validations[0].Field)
			require.NotEmpty(t, resp.Validations[0].Detail)
		})
	}

	// The agent never connected: a clear refusal, before any upgrade.
	t.Run("agent not connected", func(t *testing.T) {
		t.Parallel()
		ctx := testutil.Context(t, testutil.WaitLong)
		res := call(ctx, t, d.srv, http.MethodGet, base+"/pty?"+good, d.owner.SessionToken(), nil)
		require.Equal(t, http.StatusConflict, res.status, "%s", res.body)
		require.Equal(t, "The agent is not connected.", res.response(t).Message)
		_, err := d.owner.WorkspaceAgentPing(ctx, d.agentID)
		requireStatus(t, err, http.StatusConflict)
		var sdkErr *codersdk.Error
		_, err = d.owner.WorkspaceAgentPTY(ctx, d.agentID, codersdk.WorkspaceAgentPTYOptions{Reconnect: uuid.New(), Width: 80, Height: 24})
		require.True(t, errors.As(err, &sdkErr), "%v", err)
		require.Equal(t, http.StatusConflict, sdkErr.StatusCode())
	})
}

// The bridge ends cleanly in each way a browser or coderd can end it.
func TestWorkspaceAgentPTYBridgeEnds(t *testing.T) {
	t.Parallel()
	d := newPTYDeployment(t, nil)
	d.startAgent(t)
	ctx := testutil.Context(t, testutil.WaitLong)
	wait := func(term *terminal) websocket.StatusCode {
		t.Helper()
		select {
		case <-term.done:
			return term.closeStatus
		case <-ctx.Done():
			t.Fatal("the terminal websocket stayed open")
			return 0
		}
	}

	t.Run("not JSON", func(t *testing.T) {
		term := openTerminal(ctx, t, d.owner, d.agentID, uuid.New(), 80, 24)
		require.NoError(t, term.ws.Write(ctx, websocket.MessageText, []byte("ls\r")))
		require.Equal(t, websocket.StatusUnsupportedData, wait(term))
	})
	t.Run("too big", func(t *testing.T) {
		term := openTerminal(ctx, t, d.owner, d.agentID, uuid.New(), 80, 24)
		_ = wsjson.Write(ctx, term.ws, codersdk.ReconnectingPTYRequest{Data: strings.Repeat("x", codersdk.ReconnectingPTYMaxMessage)})
		require.Equal(t, websocket.StatusMessageTooBig, wait(term))
	})
	// coderd shutting down ends every terminal ("going away": the browser
	// reconnects, to another coderd or this one restarted) and waits for
	// the bridges.
	t.Run("coderd closes", func(t *testing.T) {
		term := openTerminal(ctx, t, d.owner, d.agentID, uuid.New(), 80, 24)
		term.send(ctx, codersdk.ReconnectingPTYRequest{Data: "echo up-$((1+1))\r"})
		term.waitFor("up-2")
		require.NoError(t, d.srv.API.Close())
		require.Equal(t, websocket.StatusGoingAway, wait(term))
		_, err := d.owner.WorkspaceAgentPTY(ctx, d.agentID, codersdk.WorkspaceAgentPTYOptions{Reconnect: uuid.New(), Width: 80, Height: 24})
		requireStatus(t, err, http.StatusServiceUnavailable)
	})
}
