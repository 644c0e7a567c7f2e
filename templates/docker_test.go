package templates_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/templates"
)

const workspaceImage = "coder-workspace:latest"

// testAgentScript stands in for the agent's init script: like the real one
// it downloads the agent from ${ACCESS_URL} (the test's server, standing in
// for coderd), keeps the container up, and ends on SIGTERM like the agent
// (as PID 1 it would ignore it, and each stop would wait out the
// template's destroy_grace_seconds).
const testAgentScript = `#!/bin/sh
trap 'exit 0' TERM
echo "auth ${AUTH_TYPE}, token set: ${CODER_AGENT_TOKEN:+yes}"
while :; do
	wget -q -O /tmp/coder "${ACCESS_URL}bin/coder-linux-amd64?token=${CODER_AGENT_TOKEN:+set}"
	sleep 2
done
`

// fakeCoderd serves the agent download on addr and reports each request's
// query on the returned channel.
func fakeCoderd(t *testing.T, addr string) (port string, hits <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	ch := make(chan string, 1)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/bin/coder-linux-amd64" {
				http.NotFound(w, r)
				return
			}
			select {
			case ch <- r.URL.RawQuery:
			default:
			}
			_, _ = io.WriteString(w, "#!/bin/sh\n")
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	_, port, err = net.SplitHostPort(ln.Addr().String())
	require.NoError(t, err)
	return port, ch
}

// docker runs the docker CLI and returns its trimmed output.
func docker(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s:\n%s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func requireWorkspaceImage(ctx context.Context, t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatalf("docker CLI not found: the docker template test needs a Docker engine")
	}
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "-f", "{{.Id}}", workspaceImage).CombinedOutput()
	if err != nil {
		t.Fatalf("image %s not found (%s): run `make workspace-image` at the repository root first", workspaceImage, strings.TrimSpace(string(out)))
	}
}

// containerInfo is the part of `docker inspect` the test checks.
type containerInfo struct {
	State  struct{ Running bool }
	Config struct {
		Hostname   string
		Env        []string
		Entrypoint []string
		Labels     map[string]string
	}
	HostConfig struct {
		NetworkMode string
		ExtraHosts  []string
	}
	Mounts []struct{ Type, Name, Destination string }
}

// TestDockerTemplate applies the docker template against the real Docker
// engine through a workspace's life: start, stop (container gone, home
// volume kept), start again (the home directory survived), delete (volume
// gone). The agent finds no server; that is fine here.
func TestDockerTemplate(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	requireWorkspaceImage(t.Context(), t)

	tests := []struct {
		name    string
		listen  string // where the fake coderd listens
		host    string // the host of the access URL
		network string // the container's expected network mode
	}{
		// Loopback access URL: the container shares the host's network.
		{name: "loopback", listen: "127.0.0.1:0", host: "127.0.0.1", network: "host"},
		// Anything else: a bridge network, with host.docker.internal for
		// the Docker host, where this fake coderd runs (listening on the
		// bridge's gateway address only).
		{name: "remote", listen: "bridge", host: "host.docker.internal", network: "bridge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
			defer cancel()
			dir := t.TempDir()
			require.NoError(t, templates.Write("docker", dir))
			listen := tt.listen
			if listen == "bridge" {
				// What host-gateway means to this engine, as a container sees it.
				gw := docker(ctx, t, "run", "--rm", "--add-host", "host.docker.internal:host-gateway",
					workspaceImage, "sh", "-c", "awk '/host.docker.internal/ { print $1; exit }' /etc/hosts")
				require.NotNil(t, net.ParseIP(gw), "host-gateway address %q", gw)
				listen = net.JoinHostPort(gw, "0")
			}
			port, hits := fakeCoderd(t, listen)
			accessURL := "http://" + net.JoinHostPort(tt.host, port) + "/"

			id := uuid.NewString()
			name := "tmpltest-" + tt.name + "-" + id[:8]
			volume := "coder-" + id + "-home"
			env := func(transition string) []string {
				return tc.env(
					"CODER_AGENT_URL="+accessURL,
					"CODER_AGENT_SCRIPT_linux_amd64="+testAgentScript,
					"CODER_WORKSPACE_TRANSITION="+transition,
					"CODER_WORKSPACE_ID="+id,
					"CODER_WORKSPACE_NAME="+name,
					"CODER_WORKSPACE_OWNER=tester",
					"CODER_WORKSPACE_OWNER_ID=6f1c6f62-3f55-4e43-9b5b-4d1f1e0a6a01",
					"CODER_WORKSPACE_OWNER_NAME=Template Tester",
					"CODER_WORKSPACE_OWNER_EMAIL=tester@example.com",
				)
			}
			t.Cleanup(func() {
				// Its own deadline: the test's context may be done.
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				if out, err := tc.try(ctx, dir, env("destroy"), "destroy", "-auto-approve", "-input=false"); err != nil {
					t.Logf("cleanup: terraform destroy: %v\n%s", err, out)
				}
				ids, _ := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=coder.workspace_id="+id).Output()
				for _, c := range strings.Fields(string(ids)) {
					_ = exec.CommandContext(ctx, "docker", "rm", "-f", c).Run()
				}
				_ = exec.CommandContext(ctx, "docker", "volume", "rm", "-f", volume).Run()
			})

			containers := func() []string {
				return strings.Fields(docker(ctx, t, "ps", "-aq", "--filter", "label=coder.workspace_id="+id))
			}
			volumeExists := func() bool {
				return exec.CommandContext(ctx, "docker", "volume", "inspect", volume).Run() == nil
			}
			apply := func(transition string) {
				t.Helper()
				tc.run(ctx, t, dir, env(transition), "apply", "-auto-approve", "-input=false")
			}

			tc.run(ctx, t, dir, env("start"), "init", "-input=false")

			// Start: one running container with the home volume.
			apply("start")
			ids := containers()
			require.Len(t, ids, 1)
			var info []containerInfo
			require.NoError(t, json.Unmarshal([]byte(docker(ctx, t, "inspect", ids[0])), &info))
			c := info[0]
			require.True(t, c.State.Running)
			require.Equal(t, name, c.Config.Hostname)
			require.Equal(t, tt.network, c.HostConfig.NetworkMode)
			if tt.network == "bridge" {
				require.Contains(t, c.HostConfig.ExtraHosts, "host.docker.internal:host-gateway")
			}
			require.Equal(t, "tester", c.Config.Labels["coder.owner"])
			require.Equal(t, name, c.Config.Labels["coder.workspace_name"])
			require.Len(t, c.Config.Entrypoint, 3)
			require.Equal(t, []string{"sh", "-c"}, c.Config.Entrypoint[:2])
			require.Contains(t, c.Config.Entrypoint[2], accessURL)
			require.True(t, hasPrefix(c.Config.Env, "CODER_AGENT_TOKEN="), "env: %v", c.Config.Env)
			require.Len(t, c.Mounts, 1)
			require.Equal(t, volume, c.Mounts[0].Name)
			require.Equal(t, "/home/coder", c.Mounts[0].Destination)
			require.Equal(t, "coder", docker(ctx, t, "exec", ids[0], "id", "-un"))
			// The init script in the container reached "coderd", with
			// its token.
			select {
			case q := <-hits:
				require.Equal(t, "token=set", q)
			case <-ctx.Done():
				t.Fatalf("the container never fetched the agent from %s: %v\n%s", accessURL, ctx.Err(),
					docker(context.Background(), t, "logs", ids[0]))
			}
			docker(ctx, t, "exec", ids[0], "sh", "-c", "echo kept > /home/coder/marker")

			// Stop: the container goes, the volume stays.
			apply("stop")
			require.Empty(t, containers())
			require.True(t, volumeExists())

			// Start again: a new container sees the same home directory.
			apply("start")
			ids = containers()
			require.Len(t, ids, 1)
			require.Equal(t, "kept", docker(ctx, t, "exec", ids[0], "cat", "/home/coder/marker"))

			// Delete: everything goes.
			tc.run(ctx, t, dir, env("destroy"), "destroy", "-auto-approve", "-input=false")
			require.Empty(t, containers())
			require.False(t, volumeExists())
		})
	}
}

func hasPrefix(list []string, prefix string) bool {
	for _, s := range list {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
