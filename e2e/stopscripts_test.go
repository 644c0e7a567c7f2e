package e2e_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

// stopScriptsTF adds to the docker template a MOTD the startup writes and
// a stop script that outlasts Docker's default 10 s stop timeout.
const stopScriptsTF = `
resource "coder_script" "e2e_motd" {
  agent_id     = coder_agent.main.id
  display_name = "E2E MOTD"
  run_on_start = true
  script       = "printf 'e2e message of the day\\n' > /home/coder/e2e-motd"
}

resource "coder_script" "e2e_stop" {
  agent_id     = coder_agent.main.id
  display_name = "E2E Stop"
  run_on_stop  = true
  script       = "echo stopping-e2e; sleep 12; echo stopped-e2e"
}
`

// TestDockerStopScriptsAndMOTD runs the docker template, with a motd_file
// and a run_on_stop coder_script added, on real Docker: an OpenSSH login
// shows the MOTD (a command does not), and `coder stop` lets the agent
// run the stop script to its end (longer than Docker's default stop
// timeout) before the container goes, with its output in the agent's
// logs under its name and the lifecycle off.
func TestDockerStopScriptsAndMOTD(t *testing.T) {
	d := newDeployment(t)
	const ws = "e2e-stop"
	cleanupDocker(t, "admin", ws)

	dir := t.TempDir()
	src := filepath.Join(repoRoot, "templates", "docker")
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		if e.Name() == "main.tf" {
			const anchor = `  dir  = "/home/coder"` + "\n"
			require.Contains(t, string(b), anchor)
			b = []byte(strings.Replace(string(b), anchor, anchor+`  motd_file = "/home/coder/e2e-motd"`+"\n", 1))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "e2e.tf"), []byte(stopScriptsTF), 0o600))
	d.run("templates", "push", "stopscripts", "-d", dir, "-y")
	d.run("create", ws, "--template", "stopscripts", "-y")
	t.Cleanup(func() { _, _ = d.try("delete", ws, "-y") })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	u, err := url.Parse(d.url)
	require.NoError(t, err)
	sdk := codersdk.New(u)
	login, err := sdk.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: "SomePass!234"})
	require.NoError(t, err)
	sdk.SetSessionToken(login.SessionToken)
	var agentID uuid.UUID
	require.Eventually(t, func() bool {
		w, err := sdk.WorkspaceByOwnerAndName(ctx, codersdk.Me, ws)
		if err != nil {
			return false
		}
		for _, r := range w.LatestBuild.Resources {
			for _, a := range r.Agents {
				agentID = a.ID
				return a.LifecycleState == codersdk.WorkspaceAgentLifecycleReady
			}
		}
		return false
	}, 3*time.Minute, time.Second, "the agent never became ready")

	cfg := filepath.Join(t.TempDir(), "ssh_config")
	d.run("config-ssh", "--ssh-config-file", cfg, "-y", "--coder-binary-path", coderBin)
	login1 := exec.CommandContext(ctx, "ssh", "-F", cfg, "-tt", "coder."+ws)
	login1.Stdin = strings.NewReader("exit\n")
	out, err := login1.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "e2e message of the day\r\n", "an interactive login shows the MOTD")
	out, err = exec.CommandContext(ctx, "ssh", "-F", cfg, "coder."+ws, "echo", "just-this").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, "just-this\n", string(out), "a command gets no MOTD")

	d.run("stop", ws, "-y")
	require.Empty(t, containers(t, "admin", ws), "stop removes the container")
	a, err := sdk.WorkspaceAgent(ctx, agentID)
	require.NoError(t, err)
	require.Equal(t, codersdk.WorkspaceAgentLifecycleOff, a.LifecycleState)
	logs, err := sdk.WorkspaceAgentLogs(ctx, agentID, 0)
	require.NoError(t, err)
	var stop []string
	for _, l := range logs {
		if l.Source == "E2E Stop" {
			stop = append(stop, l.Output)
		}
	}
	require.Equal(t, []string{"stopping-e2e", "stopped-e2e"}, stop)
}
