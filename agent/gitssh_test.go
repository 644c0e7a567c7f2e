package agent_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestGitCloneOverSSHWithOwnersKey: a session in the workspace clones a
// repository from a real OpenSSH server that knows only the owner's git
// SSH key (the one `coder publickey` prints), with nothing set up in the
// workspace: the agent's GIT_SSH_COMMAND offers the key.
func TestGitCloneOverSSHWithOwnersKey(t *testing.T) {
	t.Parallel()
	_, err := exec.LookPath("git")
	require.NoError(t, err, "git is needed (make deps machines have it)")
	owner, agentID, token := setupWorkspace(t, nil, nil)
	tctx := testutil.Context(t, 2*time.Minute)
	key, err := owner.GitSSHKey(tctx, codersdk.Me)
	require.NoError(t, err)
	sshd := testutil.StartSSHD(t, key.PublicKey)

	// A bare repository with one commit, served by that sshd.
	repo := filepath.Join(t.TempDir(), "project.git")
	work := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "--bare", "--initial-branch=main", repo},
		{"-C", work, "init", "-q"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "hello from the server"},
		{"-C", work, "push", "-q", repo, "HEAD:refs/heads/main"},
	} {
		out, err := exec.Command("git", args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}

	client := codersdk.New(owner.URL)
	client.SetSessionToken(token)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.New(agent.Options{Client: client, Logger: testutil.Logger(t)}).Run(ctx) }()
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

	// The key is installed beside the agent's start, not before it.
	require.Eventually(t, func() bool {
		sess, err := sshc.NewSession()
		if err != nil {
			return false
		}
		defer sess.Close()
		out, _ := sess.Output("printenv GIT_SSH_COMMAND")
		return len(out) > 0
	}, testutil.WaitLong, 50*time.Millisecond, "GIT_SSH_COMMAND never appeared in sessions")
	sess, err := sshc.NewSession()
	require.NoError(t, err)
	dest := filepath.Join(t.TempDir(), "clone")
	// IdentitiesOnly: only the key GIT_SSH_COMMAND names may be offered,
	// so the clone proves that key is the owner's.
	script := fmt.Sprintf(`set -e
export GIT_SSH_COMMAND="$GIT_SSH_COMMAND -F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
git clone -q ssh://%s@127.0.0.1:%d%s %s
git -C %s log -1 --format=%%s`, sshd.User, sshd.Port, repo, dest, dest)
	out, err := sess.CombinedOutput(script)
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "hello from the server")
}
