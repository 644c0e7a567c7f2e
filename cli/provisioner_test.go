package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
)

func TestParseProvisionerTags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		in      []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", in: nil, want: map[string]string{}},
		{name: "pairs", in: []string{"gpu=true", "region=eu-west"}, want: map[string]string{"gpu": "true", "region": "eu-west"}},
		{name: "empty value", in: []string{"owner="}, want: map[string]string{"owner": ""}},
		{name: "value with equals", in: []string{"expr=a=b"}, want: map[string]string{"expr": "a=b"}},
		{name: "spaces trimmed", in: []string{" zone = b "}, want: map[string]string{"zone": "b"}},
		{name: "same pair twice", in: []string{"a=1", "a=1"}, want: map[string]string{"a": "1"}},
		{name: "no equals", in: []string{"gpu"}, wantErr: `tag "gpu": want key=value`},
		{name: "empty key", in: []string{"=x"}, wantErr: "the key is empty"},
		{name: "conflict", in: []string{"a=1", "a=2"}, wantErr: `tag "a" given twice (a=1 and a=2)`},
		{name: "nul byte", in: []string{"a=b\x00c"}, wantErr: "NUL byte"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProvisionerTags(tc.in)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestFormatProvisionerTags(t *testing.T) {
	t.Parallel()
	require.Equal(t, "", formatProvisionerTags(nil))
	require.Equal(t, "a=1, owner=, scope=organization", formatProvisionerTags(map[string]string{"scope": "organization", "owner": "", "a": "1"}))
}

// lockedBuffer is an io.Writer safe for the daemon's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// provisionerCLI runs `coder provisioner ...` in-process against a
// deployment, as the logged-in owner unless token is changed.
type provisionerCLI struct {
	url, token string
	env        map[string]string
}

func (c provisionerCLI) run(ctx context.Context, t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut lockedBuffer
	r := &Root{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv:  func(k string) string { return c.env[k] },
		urlFlag: c.url, token: c.token, configDir: t.TempDir(),
	}
	cmd := r.provisionerCmd()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func newProvisionerCLI(t *testing.T) (provisionerCLI, *codersdk.Client, codersdk.CreateFirstUserResponse) {
	t.Helper()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(t, client)
	return provisionerCLI{url: srv.URL.String(), token: client.SessionToken()}, client, first
}

func TestProvisionerKeysCommands(t *testing.T) {
	t.Parallel()
	cli, _, _ := newProvisionerCLI(t)
	ctx := coderdtest.Context(t, time.Minute)

	out, errOut, err := cli.run(ctx, t, "keys", "create", "gpu-fleet", "--tag", "gpu=true", "--tag", "region=eu")
	require.NoError(t, err, errOut)
	key := strings.TrimSpace(out)
	require.NotContains(t, key, "\n", "stdout is the key alone, for scripts")
	require.NotEmpty(t, key)
	require.Contains(t, errOut, "shown only this once")
	require.Contains(t, errOut, "CODER_PROVISIONER_DAEMON_KEY=<key> coder provisioner start")

	out, _, err = cli.run(ctx, t, "keys", "list")
	require.NoError(t, err)
	require.Contains(t, out, "NAME")
	require.Contains(t, out, "gpu-fleet")
	require.Contains(t, out, "gpu=true, region=eu")
	require.NotContains(t, out, key, "secrets are never listed")

	out, _, err = cli.run(ctx, t, "keys", "list", "-o", "json")
	require.NoError(t, err)
	var keys []codersdk.ProvisionerKey
	require.NoError(t, json.Unmarshal([]byte(out), &keys))
	require.Len(t, keys, 1)
	require.Equal(t, map[string]string{"gpu": "true", "region": "eu"}, keys[0].Tags)

	_, _, err = cli.run(ctx, t, "keys", "create", "gpu-fleet")
	require.ErrorContains(t, err, "already exists")
	_, _, err = cli.run(ctx, t, "keys", "create", "bad", "--tag", "novalue")
	require.ErrorContains(t, err, "want key=value")

	out, _, err = cli.run(ctx, t, "keys", "delete", "gpu-fleet")
	require.NoError(t, err)
	require.Contains(t, out, "gpu-fleet deleted")
	_, _, err = cli.run(ctx, t, "keys", "delete", "gpu-fleet")
	require.Error(t, err)
	out, _, err = cli.run(ctx, t, "keys", "list", "-o", "json")
	require.NoError(t, err)
	require.JSONEq(t, "[]", out)
}

func TestProvisionerStartRunsJobsAndListShowsIt(t *testing.T) {
	t.Parallel()
	cli, owner, first := newProvisionerCLI(t)
	ctx := coderdtest.Context(t, 3*time.Minute)

	res, err := owner.CreateProvisionerKey(ctx, first.OrganizationID, codersdk.CreateProvisionerKeyRequest{Name: "fleet", Tags: map[string]string{"pool": "cli"}})
	require.NoError(t, err)

	// The key comes from its env twin, as operators pass it.
	daemonCLI := provisionerCLI{url: cli.url, env: map[string]string{envProvisionerKey: res.Key}}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var stderr lockedBuffer
	done := make(chan error, 1)
	go func() {
		_, errOut, err := daemonCLI.run(runCtx, t, "start", "--name", "cli-daemon", "--cache-dir", t.TempDir(), "--install-terraform=false")
		_, _ = stderr.Write([]byte(errOut))
		done <- err
	}()

	v := coderdtest.CreateTemplateVersion(t, owner, first.OrganizationID, map[string]string{"main.tf": `resource "terraform_data" "x" {}`}, map[string]string{"pool": "cli"})
	job := coderdtest.AwaitJob(t, func() (codersdk.ProvisionerJob, error) {
		tv, err := owner.TemplateVersion(ctx, v.ID)
		return tv.Job, err
	})
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)

	out, _, err := cli.run(ctx, t, "list")
	require.NoError(t, err)
	require.Contains(t, out, "LAST SEEN")
	require.Contains(t, out, "cli-daemon")
	require.Contains(t, out, "pool=cli")
	out, _, err = cli.run(ctx, t, "list", "-o", "json")
	require.NoError(t, err)
	var daemons []codersdk.ProvisionerDaemon
	require.NoError(t, json.Unmarshal([]byte(out), &daemons))
	require.Len(t, daemons, 1)
	require.Equal(t, "cli-daemon", daemons[0].Name)
	require.Equal(t, *job.WorkerID, daemons[0].ID)
	require.NotEqual(t, "offline", daemons[0].Status)

	// Canceling the command's context is a first SIGINT: drain and stop.
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-ctx.Done():
		t.Fatal("provisioner start did not stop")
	}
	text := stderr.String()
	require.Contains(t, text, "Provisioner cli-daemon started; waiting for jobs (tags: those of the provisioner key)")
	require.Contains(t, text, "Stopped.")
}

func TestProvisionerStartFailsOnRejectedCredentials(t *testing.T) {
	t.Parallel()
	cli, _, _ := newProvisionerCLI(t)
	ctx := coderdtest.Context(t, time.Minute)
	_, errOut, err := cli.run(ctx, t, "start", "--psk", "not-the-psk", "--cache-dir", t.TempDir(), "--install-terraform=false")
	require.True(t, codersdk.IsStatus(err, 401), "err: %v\n%s", err, errOut)
}

func TestProvisionerStartFlagErrors(t *testing.T) {
	t.Parallel()
	ctx := coderdtest.Context(t, time.Minute)
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string
	}{
		{name: "key and psk", args: []string{"--key", "k", "--psk", "p"}, wantErr: "either --key or --psk"},
		{name: "bad tag", args: []string{"--psk", "p", "--tag", "gpu"}, wantErr: `tag "gpu": want key=value`},
		{name: "bad tag from env", env: map[string]string{envProvisionerTags: "a=1,broken"}, args: []string{"--psk", "p"}, wantErr: `tag "broken"`},
		{name: "concurrency", args: []string{"--psk", "p", "--concurrency", "0"}, wantErr: "--concurrency 0"},
		{name: "no url", args: []string{"--psk", "p"}, wantErr: "no deployment URL"},
		{name: "log format", args: []string{"--psk", "p", "--log-format", "xml"}, wantErr: "--log-format"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := provisionerCLI{env: tc.env}
			if tc.name != "no url" {
				c.url = "http://127.0.0.1:1"
			}
			_, _, err := c.run(ctx, t, append([]string{"start", "--cache-dir", t.TempDir()}, tc.args...)...)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}
