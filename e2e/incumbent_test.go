package e2e_test

import (
	"encoding/json"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestIncumbentTemplate is issue 9's "done when", tried as a new user
// would: a docker template written in the incumbent's published style
// (e2e/testdata/incumbent-docker: only its image and registry module made
// local) pushes, builds and behaves on real Docker. Its network setup is
// the incumbent's too (bridge network, host.docker.internal), so the server
// listens on the Docker bridge's gateway, an address containers reach.
func TestIncumbentTemplate(t *testing.T) {
	gw := dockerGateway(t)
	d := newDeploymentOn(t, gw)
	const ws = "inc1"
	cleanupIncumbent(t, "admin", ws)

	out := d.run("templates", "push", "incumbent", "-d", "e2e/testdata/incumbent-docker", "-y")
	require.Contains(t, out, "Template incumbent created")
	require.NotContains(t, out, "ignored:", "the template sets nothing we ignore")
	out = d.run("create", ws, "--template", "incumbent", "-y")
	require.Contains(t, out, "Apply complete")

	// The agent connects and the startup script (the /etc/skel copy,
	// printenv) succeeds: lifecycle ready, not start_error.
	var agent codersdk.WorkspaceAgent
	require.Eventually(t, func() bool {
		w, ok := showJSON(d, ws)
		if !ok {
			return false
		}
		agent, ok = firstAgent(w)
		return ok && agent.LifecycleState != codersdk.WorkspaceAgentLifecycleCreated && agent.LifecycleState != codersdk.WorkspaceAgentLifecycleStarting
	}, 3*time.Minute, time.Second, "the agent never finished starting")
	require.Equal(t, codersdk.WorkspaceAgentLifecycleReady, agent.LifecycleState, "the startup script failed: %s", d.run("show", ws))

	// Every metadata item has a value and no error (every item runs once
	// at start; the shortest interval is 10 s): the `coder stat` ones prove
	// coder is on the scripts' PATH. The bound is generous for a loaded CI
	// machine; the time it took is logged.
	metaStart := time.Now()
	require.Eventually(t, func() bool {
		w, ok := showJSON(d, ws)
		if !ok {
			return false
		}
		agent, ok = firstAgent(w)
		if !ok || len(agent.Metadata) != 7 {
			return false
		}
		for _, m := range agent.Metadata {
			if m.Result.CollectedAt.IsZero() || m.Result.Error != "" || m.Result.Value == "" {
				return false
			}
		}
		return true
	}, 90*time.Second, time.Second, "metadata never all collected: %s", d.run("show", ws))
	t.Logf("every metadata item collected %s after the agent was ready", time.Since(metaStart).Round(time.Second))
	values := map[string]string{}
	for _, m := range agent.Metadata {
		values[m.Description.Key] = m.Result.Value
	}
	t.Logf("metadata: %v", values)
	require.Regexp(t, `^[0-9.]+/[0-9.]+ cores \([0-9]+%\)$`, values["0_cpu_usage"])
	require.Regexp(t, `iB \([0-9]+%\)$`, values["1_ram_usage"])
	require.Regexp(t, `iB \([0-9]+%\)$`, values["3_home_disk"])
	require.Regexp(t, `cores`, values["4_cpu_usage_host"])
	require.Regexp(t, `^[0-9]+\.[0-9]{2}$`, values["6_load_host"])
	require.Regexp(t, `^[0-9.]+/[0-9.]+$`, values["7_swap_host"])

	// The module's app turns healthy.
	require.Eventually(t, func() bool {
		w, ok := showJSON(d, ws)
		if !ok {
			return false
		}
		a, ok := firstAgent(w)
		return ok && len(a.Apps) == 1 && a.Apps[0].Slug == "filebrowser" && a.Apps[0].Health == codersdk.WorkspaceAppHealthHealthy
	}, 90*time.Second, time.Second, "the File Browser app never turned healthy: %s", d.run("show", ws))

	// Inside: the skel files, the session environment, coder on the PATH.
	out = d.run("ssh", ws, "--", "test -f ~/.bashrc && test -f ~/.init_done && cat ~/startup-env.txt && coder stat mem && command -v coder")
	for _, want := range []string{
		"CODER_WORKSPACE_NAME=" + ws, "CODER_WORKSPACE_OWNER_NAME=admin", "CODER_WORKSPACE_AGENT_NAME=main",
		"CODER_AGENT_URL=http://", "GIT_AUTHOR_EMAIL=admin@example.com", "GIT_AUTHOR_NAME=admin",
	} {
		require.Contains(t, out, want)
	}
	require.Regexp(t, `iB \([0-9]+%\)`, out, "coder stat in a session")

	// The cron script runs every 10 s.
	require.Eventually(t, func() bool {
		out, err := d.try("ssh", ws, "--quiet", "--", "wc -l < ~/heartbeat.log")
		if err != nil {
			return false
		}
		n, err := strconv.Atoi(lastLine(out))
		return err == nil && n >= 2
	}, 60*time.Second, 2*time.Second, "the cron script did not run twice")

	// coder show shows all of it; the sensitive item is hidden.
	out = d.run("show", ws)
	for _, want := range []string{
		"docker_container.workspace", "image: coder-workspace:latest", "hostname: " + ws, "agent token: (sensitive)",
		"CPU Usage:", "RAM Usage:", "Home Disk:", "Load Average (Host):", "File Browser", "healthy",
	} {
		require.Contains(t, out, want)
	}
	require.NotRegexp(t, `agent token: [0-9a-f]{8}-`, out)

	// git clone over SSH with the user's key, from a real OpenSSH server
	// on the host that knows only the key `coder publickey` prints.
	pub := regexp.MustCompile(`ssh-ed25519 \S+`).FindString(d.run("publickey"))
	require.NotEmpty(t, pub)
	sshd := testutil.StartSSHDOn(t, gw, pub)
	repo := filepath.Join(t.TempDir(), "project.git")
	work := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "--bare", "--initial-branch=main", repo},
		{"-C", work, "init", "-q"},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "hello from the git host"},
		{"-C", work, "push", "-q", repo, "HEAD:refs/heads/main"},
	} {
		out, err := exec.Command("git", args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	// accept-new stands in for the user answering "yes" to the host key.
	out = d.run("ssh", ws, "--quiet", "--", `GIT_SSH_COMMAND="$GIT_SSH_COMMAND -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=accept-new" `+
		"git clone -q ssh://"+sshd.User+"@host.docker.internal:"+strconv.Itoa(sshd.Port)+repo+" ~/project && git -C ~/project log -1 --format=%s")
	require.Contains(t, out, "hello from the git host")

	d.run("delete", ws, "-y")
	require.Empty(t, containers(t, "admin", ws))
}

// dockerGateway is the default bridge network's gateway address (the
// address of its host interface, docker0): the host as containers on that
// network see it, and what "host-gateway" resolves to.
func dockerGateway(t *testing.T) string {
	t.Helper()
	name := docker(t, "network", "inspect", "bridge", "-f", `{{index .Options "com.docker.network.bridge.name"}}`)
	if name == "" || name == "<no value>" {
		name = "docker0"
	}
	iface, err := net.InterfaceByName(name)
	require.NoError(t, err, "the Docker bridge's interface")
	addrs, err := iface.Addrs()
	require.NoError(t, err)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	require.FailNow(t, "the Docker bridge has no IPv4 address", "interface %s: %v", name, addrs)
	return ""
}

// cleanupIncumbent removes the fixture's container and volume (its volume
// is labelled coder.workspace_name_at_creation, as the incumbent does).
func cleanupIncumbent(t *testing.T, owner, ws string) {
	cleanupDocker(t, owner, ws)
	t.Cleanup(func() {
		vols, _ := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=coder.owner="+owner, "--filter", "label=coder.workspace_name_at_creation="+ws).Output()
		for _, v := range strings.Fields(string(vols)) {
			_ = exec.Command("docker", "volume", "rm", "-f", v).Run()
		}
	})
}

func showJSON(d *deployment, ws string) (codersdk.Workspace, bool) {
	out, err := exec.Command(coderBin, "--global-config", d.cliDir, "show", ws, "-o", "json").Output()
	if err != nil {
		return codersdk.Workspace{}, false
	}
	var w codersdk.Workspace
	return w, json.Unmarshal(out, &w) == nil
}

func firstAgent(w codersdk.Workspace) (codersdk.WorkspaceAgent, bool) {
	for _, r := range w.LatestBuild.Resources {
		if len(r.Agents) > 0 {
			return r.Agents[0], true
		}
	}
	return codersdk.WorkspaceAgent{}, false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
