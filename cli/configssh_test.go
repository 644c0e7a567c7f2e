package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

const (
	markerBegin = "# ------------ coder config-ssh: BEGIN managed block ------------"
	markerEnd   = "# ------------- coder config-ssh: END managed block -------------"
)

func TestConfigSSH(t *testing.T) {
	t.Parallel()
	d := newNetDeployment(t, nil)
	d.createWorkspace("alpha")
	d.createWorkspace("beta", testAgent{name: "front"}, testAgent{name: "back"})
	const bin = "/opt/coder bin/coder" // a space: the ProxyCommand must quote it

	type check func(t *testing.T, before, after, stdout, stderr string)
	preserved := func(prefix, suffix string) check {
		return func(t *testing.T, _, after, _, _ string) {
			require.True(t, strings.HasPrefix(after, prefix), "lines before the block are kept byte for byte:\n%s", after)
			require.True(t, strings.HasSuffix(after, suffix), "lines after the block are kept byte for byte:\n%s", after)
		}
	}
	cases := []struct {
		name     string
		existing *string // nil: no file (and no directory)
		args     []string
		code     int
		checks   []check
	}{
		{name: "creates dir and file", checks: []check{func(t *testing.T, _, after, _, _ string) {
			require.True(t, strings.HasPrefix(after, markerBegin+"\n"))
			require.True(t, strings.HasSuffix(after, markerEnd+"\n"))
		}}},
		{name: "appends after user lines", existing: ptr("Host example\n  User me\n"), checks: []check{
			preserved("Host example\n  User me\n\n"+markerBegin+"\n", markerEnd+"\n"),
		}},
		{name: "no final newline", existing: ptr("Host example\n  Port 2222"), checks: []check{
			preserved("Host example\n  Port 2222\n\n"+markerBegin+"\n", ""),
		}},
		{
			name:     "replaces stale block in the middle",
			existing: ptr("# mine\r\nHost a\r\n\r\n" + markerBegin + "\nHost coder.gone\n  ProxyCommand x\n" + markerEnd + "\nHost b # after\n  User z"),
			checks: []check{
				preserved("# mine\r\nHost a\r\n\r\n"+markerBegin+"\n", markerEnd+"\nHost b # after\n  User z"),
				func(t *testing.T, _, after, _, _ string) { require.NotContains(t, after, "coder.gone") },
			},
		},
		{name: "host prefix and options", args: []string{"--ssh-host-prefix", "ws-", "-o", "ForwardAgent=yes", "--ssh-option", "User dev"}, checks: []check{
			func(t *testing.T, _, after, _, _ string) {
				require.Contains(t, after, "\nHost ws-alpha\n")
				require.Contains(t, after, "\n  ForwardAgent yes\n  User dev\n")
				require.NotContains(t, after, "coder.alpha")
			},
		}},
		{name: "dry run writes nothing", existing: ptr("Host keep\n"), args: []string{"--dry-run"}, checks: []check{
			func(t *testing.T, before, after, stdout, stderr string) {
				require.Equal(t, before, after)
				require.Contains(t, stdout, "+Host coder.alpha\n")
				require.Contains(t, stdout, " Host keep\n", "context lines")
				require.Contains(t, stdout, "@@ -1,1 +1,")
				require.Contains(t, stderr, "Dry run")
			},
		}},
		{name: "dry run without a file", args: []string{"--dry-run"}, checks: []check{
			func(t *testing.T, _, after, stdout, _ string) {
				require.Empty(t, after)
				require.Contains(t, stdout, "@@ -0,0 +1,")
			},
		}},
		{name: "begin without end", existing: ptr("Host a\n" + markerBegin + "\nHost coder.x\n"), code: 1, checks: []check{unchanged("1 BEGIN and 0 END")}},
		{name: "end without begin", existing: ptr(markerEnd + "\n"), code: 1, checks: []check{unchanged("0 BEGIN and 1 END")}},
		{name: "end before begin", existing: ptr(markerEnd + "\n" + markerBegin + "\n"), code: 1, checks: []check{unchanged("unbalanced")}},
		{name: "two blocks", existing: ptr(strings.Repeat(markerBegin+"\n"+markerEnd+"\n", 2)), code: 1, checks: []check{unchanged("2 BEGIN and 2 END")}},
		{name: "bad prefix", args: []string{"--ssh-host-prefix", "a b"}, code: 1, checks: []check{unchanged("--ssh-host-prefix")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ctx := testutil.Context(t, time.Minute)
			dir := filepath.Join(t.TempDir(), "ssh")
			file := filepath.Join(dir, "config")
			before := ""
			if c.existing != nil {
				before = *c.existing
				require.NoError(t, os.MkdirAll(dir, 0o755))
				require.NoError(t, os.WriteFile(file, []byte(before), 0o644))
			}
			args := append([]string{"config-ssh", "-y", "--ssh-config-file", file, "--coder-binary-path", bin}, c.args...)
			code, stdout, stderr := d.exec(t, ctx, nil, args...)
			require.Equal(t, c.code, code, "stdout: %s\nstderr: %s", stdout, stderr)
			b, err := os.ReadFile(file)
			if err != nil {
				require.ErrorIs(t, err, os.ErrNotExist)
			}
			after := string(b)
			for _, chk := range c.checks {
				chk(t, before, after, stdout, stderr)
			}
			if code != 0 || strings.Contains(c.name, "dry run") {
				return
			}

			// The block itself.
			for _, host := range []string{"alpha", "beta", "beta.back", "beta.front"} {
				if !strings.Contains(strings.Join(c.args, " "), "ws-") {
					require.Contains(t, after, "\nHost coder."+host+"\n")
				}
				require.Contains(t, after, "  ProxyCommand '"+bin+"' --global-config "+d.configDir+" ssh --stdio "+host+"\n")
			}
			for _, opt := range []string{"ConnectTimeout 0", "StrictHostKeyChecking no", "UserKnownHostsFile /dev/null", "LogLevel ERROR"} {
				require.Equal(t, 4, strings.Count(after, "\n  "+opt+"\n"), opt)
			}
			require.Contains(t, stdout, "Updated "+file)
			if c.existing == nil {
				fi, err := os.Stat(dir)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
				fi, err = os.Stat(file)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			} else {
				fi, err := os.Stat(file)
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "an existing file keeps its mode")
			}

			// A second run changes nothing and says so.
			code, stdout, stderr = d.exec(t, ctx, nil, args...)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, "No changes to make")
			again, err := os.ReadFile(file)
			require.NoError(t, err)
			require.Equal(t, after, string(again))
		})
	}
}

func ptr(s string) *string { return &s }

// unchanged checks a refused run: the file is as it was and stderr says why.
func unchanged(why string) func(t *testing.T, before, after, stdout, stderr string) {
	return func(t *testing.T, before, after, _, stderr string) {
		require.Equal(t, before, after)
		require.Contains(t, stderr, why)
	}
}

// TestConfigSSHWithOpenSSH runs the real OpenSSH client through the entry
// config-ssh wrote: its ProxyCommand runs a real coder binary with --stdio.
func TestConfigSSHWithOpenSSH(t *testing.T) {
	t.Parallel()
	sshPath, err := exec.LookPath("ssh")
	require.NoError(t, err, "the OpenSSH client is needed: apt-get install openssh-client (make deps)")
	ctx := testutil.Context(t, 5*time.Minute)

	bin := filepath.Join(t.TempDir(), "coder")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	build := exec.CommandContext(ctx, goBin, "build", "-tags", testutil.BuildTags, "-o", bin, "./cmd/coder")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	d := newNetDeployment(t, nil)
	d.startAgent(d.createWorkspace("ws")["main"])
	file := filepath.Join(t.TempDir(), "ssh_config")
	code, stdout, stderr := d.exec(t, ctx, nil, "config-ssh", "-y", "--ssh-config-file", file, "--coder-binary-path", bin)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", stdout, stderr)

	home := t.TempDir()
	ssh := func(stdin string, args ...string) (int, string, string) {
		cmd := exec.CommandContext(ctx, sshPath, append([]string{"-F", file, "-o", "BatchMode=yes", "coder.ws"}, args...)...)
		cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
		var o, e strings.Builder
		cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), o.String(), e.String()
		}
		require.NoError(t, err)
		return 0, o.String(), e.String()
	}
	code, stdout, stderr = ssh("", "echo", "hi")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "hi\n", stdout)

	code, _, stderr = ssh("", "exit 3")
	require.Equal(t, 3, code, stderr)

	code, stdout, stderr = ssh("line one\nline two\n", "cat")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "line one\nline two\n", stdout)
}
