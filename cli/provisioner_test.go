package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
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

// provisionerRun runs `coder provisioner args...` in e to its end and
// returns its output and the command's error.
func provisionerRun(t *testing.T, ctx context.Context, e *cliEnv, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	inv := e.start(ctx, nil, append([]string{"provisioner"}, args...)...)
	inv.wait(t, ctx)
	return inv.stdout.String(), inv.stderr.String(), inv.err
}

// newProvisionerCLI is a deployment (accepting coderdtest.TestPSK) and a
// CLI logged in as its owner.
func newProvisionerCLI(t *testing.T) (*cliEnv, *codersdk.Client, codersdk.CreateFirstUserResponse) {
	t.Helper()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(t, client)
	return newEnv(t).loginAs(srv.URL.String(), client.SessionToken()), client, first
}

func TestProvisionerKeysCommands(t *testing.T) {
	t.Parallel()
	cli, _, _ := newProvisionerCLI(t)
	ctx := testutil.Context(t, time.Minute)

	out, errOut, err := provisionerRun(t, ctx, cli, "keys", "create", "gpu-fleet", "--tag", "gpu=true", "--tag", "region=eu")
	require.NoError(t, err, errOut)
	key := strings.TrimSpace(out)
	require.NotContains(t, key, "\n", "stdout is the key alone, for scripts")
	require.NotEmpty(t, key)
	require.Contains(t, errOut, "shown only this once")
	require.Contains(t, errOut, "CODER_PROVISIONER_DAEMON_KEY=<key> coder provisioner start")

	out, _, err = provisionerRun(t, ctx, cli, "keys", "list")
	require.NoError(t, err)
	require.Contains(t, out, "NAME")
	require.Contains(t, out, "gpu-fleet")
	require.Contains(t, out, "gpu=true, region=eu")
	require.NotContains(t, out, key, "secrets are never listed")

	out, _, err = provisionerRun(t, ctx, cli, "keys", "list", "-o", "json")
	require.NoError(t, err)
	var keys []codersdk.ProvisionerKey
	require.NoError(t, json.Unmarshal([]byte(out), &keys))
	require.Len(t, keys, 1)
	require.Equal(t, map[string]string{"gpu": "true", "region": "eu"}, keys[0].Tags)

	_, _, err = provisionerRun(t, ctx, cli, "keys", "create", "gpu-fleet")
	require.ErrorContains(t, err, "already exists")
	_, _, err = provisionerRun(t, ctx, cli, "keys", "create", "bad", "--tag", "novalue")
	require.ErrorContains(t, err, "want key=value")

	out, _, err = provisionerRun(t, ctx, cli, "keys", "delete", "gpu-fleet")
	require.NoError(t, err)
	require.Contains(t, out, "gpu-fleet deleted")
	_, _, err = provisionerRun(t, ctx, cli, "keys", "delete", "gpu-fleet")
	require.Error(t, err)
	out, _, err = provisionerRun(t, ctx, cli, "keys", "list", "-o", "json")
	require.NoError(t, err)
	require.JSONEq(t, "[]", out)
}

func TestProvisionerStartRunsJobsAndListShowsIt(t *testing.T) {
	t.Parallel()
	cli, owner, first := newProvisionerCLI(t)
	ctx := testutil.Context(t, 3*time.Minute)

	res, err := owner.CreateProvisionerKey(ctx, first.OrganizationID, codersdk.CreateProvisionerKeyRequest{Name: "fleet", Tags: map[string]string{"pool": "cli"}})
	require.NoError(t, err)

	// The key comes from its env twin, as operators pass it.
	daemonCLI := newEnv(t)
	daemonCLI.vars = map[string]string{envProvisionerKey: res.Key, envURL: cli.saved("url")}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	daemon := daemonCLI.start(runCtx, nil, "provisioner", "start", "--name", "cli-daemon", "--cache-dir", t.TempDir(), "--install-terraform=false")

	v := coderdtest.CreateTemplateVersion(t, owner, first.OrganizationID, map[string]string{"main.tf": `resource "terraform_data" "x" {}`}, map[string]string{"pool": "cli"})
	job := coderdtest.AwaitJob(t, func() (codersdk.ProvisionerJob, error) {
		tv, err := owner.TemplateVersion(ctx, v.ID)
		return tv.Job, err
	})
	require.Equal(t, codersdk.ProvisionerJobSucceeded, job.Status, "error: %s", job.Error)

	out, _, err := provisionerRun(t, ctx, cli, "list")
	require.NoError(t, err)
	require.Contains(t, out, "LAST SEEN")
	require.Contains(t, out, "cli-daemon")
	require.Contains(t, out, "pool=cli")
	out, _, err = provisionerRun(t, ctx, cli, "list", "-o", "json")
	require.NoError(t, err)
	var daemons []codersdk.ProvisionerDaemon
	require.NoError(t, json.Unmarshal([]byte(out), &daemons))
	require.Len(t, daemons, 1)
	require.Equal(t, "cli-daemon", daemons[0].Name)
	require.Equal(t, *job.WorkerID, daemons[0].ID)
	require.NotEqual(t, "offline", daemons[0].Status)

	// Canceling the command's context is a first SIGINT: drain and stop.
	stop()
	require.Equal(t, 0, daemon.wait(t, ctx), "provisioner start stops cleanly: %v", daemon.err)
	text := daemon.stderr.String()
	require.Contains(t, text, "Provisioner cli-daemon started; waiting for jobs (tags: those of the provisioner key)")
	require.Contains(t, text, "Stopped.")
}

func TestProvisionerStartFailsOnRejectedCredentials(t *testing.T) {
	t.Parallel()
	cli, _, _ := newProvisionerCLI(t)
	ctx := testutil.Context(t, time.Minute)
	_, errOut, err := provisionerRun(t, ctx, cli, "start", "--psk", "not-the-psk", "--cache-dir", t.TempDir(), "--install-terraform=false")
	require.True(t, codersdk.IsStatus(err, 401), "err: %v\n%s", err, errOut)
}

func TestProvisionerStartFlagErrors(t *testing.T) {
	t.Parallel()
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
			// Each subtest's own deadline: parallel subtests may wait for a
			// slot longer than a deadline set before them.
			ctx := testutil.Context(t, time.Minute)
			c := newEnv(t)
			for k, v := range tc.env {
				c.vars[k] = v
			}
			if tc.name != "no url" {
				c.vars[envURL] = "http://127.0.0.1:1"
			}
			_, _, err := provisionerRun(t, ctx, c, append([]string{"start", "--cache-dir", t.TempDir()}, tc.args...)...)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestNoDaemonHint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		tags map[string]string
		seen int
		want string
	}{
		{map[string]string{"scope": "organization", "owner": ""}, 0,
			"Note: this job needs an untagged provisioner daemon (tagged ones run only jobs with their tags). None is connected; it starts when one connects ('coder provisioner list' shows the daemons)."},
		{map[string]string{"scope": "organization", "owner": "", "gpu": "true", "region": "eu"}, 2,
			"Note: this job needs a provisioner daemon with the tags gpu=true, region=eu. None is connected now (2 seen in the last day); it starts when one connects ('coder provisioner list' shows the daemons)."},
	} {
		require.Equal(t, c.want, noDaemonHint(c.tags, c.seen))
	}
}
