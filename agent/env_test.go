package agent_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/agent/reconnectingpty"
	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// buildCoderBinary builds the coder binary under a name that is not
// "coder", so a test sees the agent's PATH shim name it.
func buildCoderBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coder-under-test")
	cmd := exec.Command("go", "build", "-tags", testutil.BuildTags, "-o", bin, "./cmd/coder")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "build coder: %s", out)
	return bin
}

// TestSessionEnvAndCoderOnPath: every way into the workspace (SSH commands,
// SSH terminals, the web terminal's PTY, startup scripts) finds `coder` on its PATH, runs
// `coder stat`, and gets the incumbent's CODER_* variables, but never the
// agent token the agent was started with. Not parallel: it sets the
// agent's CODER_AGENT_TOKEN as `coder agent` receives it.
func TestSessionEnvAndCoderOnPath(t *testing.T) {
	bin := buildCoderBinary(t)
	owner, agentID, token := setupWorkspace(t, nil, []codersdk.ProvisionerScript{{
		DisplayName: "Startup Script", RunOnStart: true,
		Script: `coder stat mem -o json >/dev/null && echo "script-coder=$(command -v coder)"; env | grep -q CODER_AGENT_TOKEN || echo script-no-token; echo "script-url=$CODER_AGENT_URL"`,
	}})
	t.Setenv("CODER_AGENT_TOKEN", token)

	client := codersdk.New(owner.URL)
	client.SetSessionToken(token)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.New(agent.Options{Client: client, Logger: testutil.Logger(t), CoderBinary: bin}).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(time.Minute):
			t.Error("agent did not stop")
		}
	})
	awaitLifecycle(t, owner, agentID, codersdk.WorkspaceAgentLifecycleReady)
	tctx := testutil.Context(t, 2*time.Minute)
	me, err := owner.User(tctx, codersdk.Me)
	require.NoError(t, err)

	// The startup script.
	var logs string
	require.Eventually(t, func() bool {
		ls, err := owner.WorkspaceAgentLogs(tctx, agentID, 0)
		if err != nil {
			return false
		}
		var all []string
		for _, l := range ls {
			all = append(all, l.Output)
		}
		logs = strings.Join(all, "\n")
		return strings.Contains(logs, "script-url=")
	}, 30*time.Second, 50*time.Millisecond)
	require.Regexp(t, `script-coder=/.*/coder\n`, logs+"\n")
	require.Contains(t, logs, "script-no-token")
	require.Contains(t, logs, "script-url="+owner.URL.String())

	conn, err := agentconn.Dial(tctx, owner, agentID, agentconn.Options{})
	require.NoError(t, err)
	defer conn.Close()
	require.True(t, conn.AwaitReachable(tctx))
	nc, err := conn.SSH(tctx)
	require.NoError(t, err)
	sc, chans, reqs, err := gossh.NewClientConn(nc, "agent", &gossh.ClientConfig{User: "me", HostKeyCallback: gossh.InsecureIgnoreHostKey()})
	require.NoError(t, err)
	sshc := gossh.NewClient(sc, chans, reqs)
	defer sshc.Close()

	// An SSH command.
	sess, err := sshc.NewSession()
	require.NoError(t, err)
	out, err := sess.Output(`command -v coder; coder stat mem -o json; echo ---; env`)
	require.NoError(t, err, "%s", out)
	coderPath, rest, ok := strings.Cut(string(out), "\n")
	require.True(t, ok, "%s", out)
	require.Equal(t, "coder", filepath.Base(coderPath))
	target, err := os.Readlink(coderPath)
	require.NoError(t, err)
	require.Equal(t, bin, target, "coder on PATH is the agent's binary")
	statOut, envOut, ok := strings.Cut(rest, "---\n")
	require.True(t, ok, "%s", out)
	var mem struct {
		Total *float64 `json:"total"`
		Unit  string   `json:"unit"`
		Used  float64  `json:"used"`
	}
	require.NoError(t, json.Unmarshal([]byte(statOut), &mem), statOut)
	require.Equal(t, "B", mem.Unit)
	require.NotNil(t, mem.Total)
	require.Greater(t, *mem.Total, 0.0)

	env := map[string]string{}
	for _, line := range strings.Split(envOut, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	require.Equal(t, "true", env["CODER"])
	require.Equal(t, "ws", env["CODER_WORKSPACE_NAME"])
	require.Equal(t, me.Username, env["CODER_WORKSPACE_OWNER_NAME"])
	require.Equal(t, "main", env["CODER_WORKSPACE_AGENT_NAME"])
	require.Equal(t, owner.URL.String(), env["CODER_AGENT_URL"])
	require.Equal(t, "yes", env["FROM_TEMPLATE"])
	require.Equal(t, filepath.Dir(coderPath), strings.Split(env["PATH"], ":")[0], "the coder directory is first on PATH")
	require.Equal(t, filepath.Dir(coderPath), env["CODER_AGENT_BIN_DIR"])
	_, leaked := env["CODER_AGENT_TOKEN"]
	require.False(t, leaked, "the agent token must not reach sessions")
	require.NotContains(t, envOut, token)

	// A command on a terminal (as the web terminal and `coder ssh` run).
	sess, err = sshc.NewSession()
	require.NoError(t, err)
	require.NoError(t, sess.RequestPty("xterm", 24, 200, gossh.TerminalModes{}))
	out, err = sess.Output(`command -v coder && coder stat cpu --sample-interval=10ms; echo "token=[$CODER_AGENT_TOKEN]"`)
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), coderPath)
	require.Regexp(t, `[0-9.]+/[0-9.]+ cores \([0-9]+%\)`, string(out))
	require.Contains(t, string(out), "token=[]")

	// The web terminal's reconnecting PTY (a command, so no login shell's
	// /etc/profile rewrites PATH).
	rc, err := conn.DialPort(tctx, agentconn.ReconnectingPTYPort)
	require.NoError(t, err)
	defer rc.Close()
	require.NoError(t, reconnectingpty.WriteInit(rc, reconnectingpty.Init{
		ID: uuid.NewString(), Height: 24, Width: 200,
		Command: `command -v coder && coder stat mem --prefix Mi; echo "token=[$CODER_AGENT_TOKEN] ws=$CODER_WORKSPACE_NAME"`,
	}))
	require.NoError(t, rc.SetReadDeadline(time.Now().Add(time.Minute)))
	term, _ := io.ReadAll(rc) // until the command exits and the terminal closes
	require.Contains(t, string(term), coderPath)
	require.Regexp(t, `[0-9.]+/[0-9.]+ MiB \([0-9]+%\)`, string(term))
	require.Contains(t, string(term), "token=[] ws=ws")
}
