package templates_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestWorkspaceImage runs the image `make workspace-image` builds and checks
// what templates and developers rely on: the user coder (uid 1000) with
// passwordless sudo and bash, a UTF-8 locale, /etc/skel for a new home, the
// usual tools, and busybox httpd (the docker template's Files app).
func TestWorkspaceImage(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	requireWorkspaceImage(ctx, t)

	// A hostname no DNS knows, as a workspace's: sudo must not stall or
	// warn resolving it.
	name := "imgtest-" + uuid.NewString()[:8]
	docker(ctx, t, "run", "-d", "--rm", "--name", name, "--hostname", name, "--network", "none",
		"--entrypoint", "sleep", workspaceImage, "infinity")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = exec.CommandContext(ctx, "docker", "rm", "-f", name).Run()
	})

	// sh runs script as the image's user with a login shell's environment
	// (what the agent gives a terminal) and returns its combined output.
	sh := func(t *testing.T, script string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "docker", "exec", name, "bash", "-lc", script).CombinedOutput()
		require.NoError(t, err, "%s:\n%s", script, out)
		return strings.TrimSpace(string(out))
	}

	tests := []struct {
		name, script, want string
	}{
		{"user", "id", "uid=1000(coder) gid=1000(coder) groups=1000(coder)"},
		{"home", `echo "$HOME $(getent passwd coder | cut -d: -f6,7)"`, "/home/coder /home/coder:/bin/bash"},
		{"sudo", "sudo -n true 2>&1 && sudo -n id -u", "0"},
		{"printenv", "printenv USER", "coder"},
		{"skel", "ls -A /etc/skel | sort | paste -sd' '", ".bash_logout .bashrc .profile"},
		{"home from skel", "cmp /etc/skel/.bashrc ~/.bashrc && echo same", "same"},
		{"LANG", "echo $LANG", "en_US.UTF-8"},
		{"locale", "locale 2>&1 | grep -c 'cannot set' || true; locale charmap", "0\nUTF-8"},
		{"locale installed", "locale -a | grep -ix en_US.utf8", "en_US.utf8"},
		{"git", "git --version | cut -d' ' -f1-2", "git version"},
		{"curl", "curl --version | head -n1 | cut -d' ' -f1", "curl"},
		{"ssh", "ssh -V 2>&1 | head -c 8", "OpenSSH_"},
		{"python3", `python3 -c 'print("py", 6*7)'`, "py 42"},
		{"vi", "command -v vi >/dev/null && echo ok", "ok"},
		{"ps", "ps -p 1 -o comm=", "sleep"},
		{"less", "command -v less", "/usr/bin/less"},
		{"CA bundle", "test -s /etc/ssl/certs/ca-certificates.crt && echo ok", "ok"},
		// busybox stays, with its applets only where Debian has no program.
		{"busybox httpd", "busybox httpd --help 2>&1 | head -n1 | cut -d' ' -f1", "BusyBox"},
		{"real ls", "readlink -f \"$(command -v ls)\"", "/usr/bin/ls"},
		{"applet where none", "readlink -f /usr/sbin/httpd", "/usr/bin/busybox"},
		// A writable /tmp, and apt knows where Debian is.
		{"tmp", "touch /tmp/x && echo ok", "ok"},
		{"apt sources", "grep -c '^deb ' /etc/apt/sources.list", "3"},
		// The agent's `coder` stays first on PATH in a login shell, whose
		// /etc/profile resets PATH (profile.d/coder.sh).
		{"coder on a login shell's PATH", "CODER_AGENT_BIN_DIR=/opt/coder-bin bash -lc 'echo ${PATH%%:*}'", "/opt/coder-bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, sh(t, tt.script))
		})
	}

	// The docker template's Jupyter app: the notebook server starts with
	// the template's flags and its API answers without a token.
	t.Run("jupyter", func(t *testing.T) {
		out := sh(t, `jupyter-notebook --no-browser --ip=127.0.0.1 --port=18888 \
			--NotebookApp.token='' --NotebookApp.password='' --NotebookApp.base_url=/ \
			--NotebookApp.allow_remote_access=True </dev/null >/tmp/jupyter.log 2>&1 &
			for i in $(seq 90); do
				curl -fsS -H 'Host: jupyter--main--ws--coder.apps.example.com' http://127.0.0.1:18888/api && exit 0
				sleep 1
			done
			cat /tmp/jupyter.log; exit 1`)
		require.Contains(t, out, `"version"`)
		// A notebook can run Python (python3-ipykernel's kernel).
		require.Contains(t, sh(t, "curl -fsS http://127.0.0.1:18888/api/kernelspecs"), `"python3"`)
	})
}
