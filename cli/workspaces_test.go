package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// testEnv is a real coderd with an owner logged in; the test plays the
// provisioner daemon by hand through the daemon client.
type testEnv struct {
	*cliEnv
	owner  *codersdk.Client
	daemon *codersdk.Client
	org    uuid.UUID
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	client, _ := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(t, client)
	e := &testEnv{cliEnv: newEnv(t), owner: client, daemon: coderdtest.DaemonClient(client), org: first.OrganizationID}
	e.loginAs(client.URL.String(), client.SessionToken())
	return e
}

// jobOutcome is how playJob ends a job.
type jobOutcome struct {
	lines  []string
	fail   string                              // fail with this error instead of completing
	params []codersdk.TemplateVersionParameter // an import's parameters
	tags   map[string]string                   // the daemon's tags
}

// playJob is the daemon for the next job, watched by the CLI run r: it
// waits for r to show the job queued, takes it, sends each log line and
// waits for r to print it (so lines must arrive live), then ends the job.
func (e *testEnv) playJob(t *testing.T, ctx context.Context, r *invocation, o jobOutcome) *codersdk.AcquiredJob {
	t.Helper()
	r.waitFor(t, &r.stderr, "Queued (position 1")
	daemonID := uuid.New()
	job := coderdtest.AcquireJob(t, e.daemon, daemonID, o.tags)
	for i, l := range o.lines {
		stage := "Planning"
		if i > 0 {
			stage = "Applying"
		}
		_, err := e.daemon.UpdateJob(ctx, job.JobID, codersdk.UpdateJobRequest{DaemonID: daemonID, Logs: []codersdk.ProvisionerLog{
			{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelInfo, Stage: stage, Output: l},
		}})
		require.NoError(t, err)
		r.waitFor(t, &r.stdout, l)
	}
	if o.fail != "" {
		require.NoError(t, e.daemon.FailJob(ctx, job.JobID, codersdk.FailJobRequest{DaemonID: daemonID, Error: o.fail, ErrorCode: codersdk.JobErrorCodeTerraform}))
		return job
	}
	res := []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{Name: "dev", OS: "linux", Arch: "amd64", Auth: "token"}}}}
	req := codersdk.CompleteJobRequest{DaemonID: daemonID}
	if job.Type == codersdk.ProvisionerJobTypeTemplateVersionImport {
		req.TemplateImport = &codersdk.CompletedTemplateImport{Parameters: o.params, StartResources: res}
	} else {
		if job.WorkspaceBuild.Metadata.WorkspaceTransition == "destroy" {
			res = nil
		} else {
			res[0].Agents[0].Token = uuid.NewString()
		}
		req.WorkspaceBuild = &codersdk.CompletedWorkspaceBuild{State: []byte("state"), Resources: res}
	}
	require.NoError(t, e.daemon.CompleteJob(ctx, job.JobID, req))
	return job
}

var wsParams = []codersdk.TemplateVersionParameter{
	{Name: "region", Type: "string", DefaultValue: "eu", Options: []codersdk.TemplateVersionParameterOption{{Name: "EU", Value: "eu"}, {Name: "US", Value: "us"}}},
	{Name: "image", Type: "string", Required: true, Description: "Base image"},
	{Name: "motd", Type: "string", DefaultValue: "hi"},
}

// createTemplate makes template "docker" through the API.
func (e *testEnv) createTemplate(t *testing.T) codersdk.Template {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	v := coderdtest.CreateTemplateVersion(t, e.owner, e.org, map[string]string{"main.tf": "# test"}, nil)
	coderdtest.CompleteImport(t, e.daemon, wsParams)
	tmpl, err := e.owner.CreateTemplate(ctx, e.org, codersdk.CreateTemplateRequest{Name: "docker", VersionID: v.ID})
	require.NoError(t, err)
	return tmpl
}

// createWorkspace runs `coder create` and plays its first build.
func (e *testEnv) createWorkspace(t *testing.T, ctx context.Context, name string) codersdk.Workspace {
	t.Helper()
	r := e.start(ctx, nil, "create", name, "--template", "docker", "--parameter", "image=ubuntu")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"creating " + name}})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	ws, err := e.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, name)
	require.NoError(t, err)
	return ws
}

func buildParams(t *testing.T, ctx context.Context, c *codersdk.Client, b codersdk.WorkspaceBuild) map[string]string {
	t.Helper()
	ps, err := c.WorkspaceBuildParameters(ctx, b.ID)
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range ps {
		out[p.Name] = p.Value
	}
	return out
}

func TestCreate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args func(dir string) []string
		want map[string]string
	}{
		{
			name: "flags",
			args: func(string) []string {
				return []string{"--parameter", "image=ubuntu", "--parameter", "motd=a=b, c"}
			},
			want: map[string]string{"region": "eu", "image": "ubuntu", "motd": "a=b, c"},
		},
		{
			name: "file",
			args: func(dir string) []string {
				f := filepath.Join(dir, "params.yaml")
				require.NoError(t, os.WriteFile(f, []byte("image: debian\nregion: us\nmotd: from file\n"), 0o600))
				return []string{"--rich-parameter-file", f, "--parameter", "motd=flag wins"}
			},
			want: map[string]string{"region": "us", "image": "debian", "motd": "flag wins"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.createTemplate(t)
			ctx := testutil.Context(t, time.Minute)
			args := append([]string{"create", "dev", "-t", "docker"}, c.args(t.TempDir())...)
			r := e.start(ctx, nil, args...)
			e.playJob(t, ctx, r, jobOutcome{lines: []string{"Initializing the backend...", "docker_container.main: Creation complete"}})
			require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
			out := r.stdout.String()
			require.Contains(t, out, "==> Planning\nInitializing the backend...\n==> Applying\ndocker_container.main: Creation complete\n")
			require.Contains(t, out, "The admin/dev workspace is ready")

			ws, err := e.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "dev")
			require.NoError(t, err)
			require.Equal(t, codersdk.WorkspaceStatusRunning, ws.LatestBuild.Status)
			require.Equal(t, codersdk.BuildReasonInitiator, ws.LatestBuild.Reason)
			require.Equal(t, c.want, buildParams(t, ctx, e.owner, ws.LatestBuild))
		})
	}
}

func TestCreateParameterErrors(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing required", nil, []string{"missing values for required parameters", "image (Base image)", "--parameter NAME=VALUE"}},
		{"not an option", []string{"--parameter", "image=ubuntu", "--parameter", "region=mars"}, []string{"Invalid parameter values.", `parameter region: "mars" is not one of the options`}},
		{"unknown", []string{"--parameter", "image=ubuntu", "--parameter", "size=xl"}, []string{"parameter size: unknown parameter"}},
		{"bad flag", []string{"--parameter", "image"}, []string{`"image" is not of the form key=value`}},
		{"no template", []string{"-t", "nope"}, []string{`template "nope" not found`}},
	}
	for _, c := range cases {
		args := append([]string{"create", "dev", "-t", "docker", "-y"}, c.args...)
		code, _, stderr := e.exec(t, ctx, nil, args...)
		require.NotEqual(t, 0, code, c.name)
		for _, w := range c.want {
			require.Contains(t, stderr, w, c.name)
		}
	}
	// Without --template on a non-terminal the choices are named.
	code, _, stderr := e.exec(t, ctx, nil, "create", "dev")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "--template is required; the templates are: docker")

	list, err := e.owner.Workspaces(ctx, codersdk.WorkspaceFilter{})
	require.NoError(t, err)
	require.Empty(t, list.Workspaces)
}

func TestListAndShow(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	code, _, stderr := e.exec(t, ctx, nil, "list")
	require.Equal(t, 0, code)
	require.Contains(t, stderr, "No workspaces yet")
	e.createWorkspace(t, ctx, "dev")

	code, stdout, stderr := e.exec(t, ctx, nil, "list", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var list []codersdk.Workspace
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list, 1)
	require.Equal(t, "dev", list[0].Name)
	require.Equal(t, codersdk.WorkspaceStatusRunning, list[0].LatestBuild.Status)

	code, stdout, _ = e.exec(t, ctx, nil, "list", "--all")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "WORKSPACE")
	require.Regexp(t, `admin/dev\s+docker\s+running\s+just now`, stdout)

	code, stdout, stderr = e.exec(t, ctx, nil, "show", "admin/dev", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var ws codersdk.Workspace
	require.NoError(t, json.Unmarshal([]byte(stdout), &ws))
	require.Equal(t, list[0].ID, ws.ID)
	require.Len(t, ws.LatestBuild.Resources, 1)

	code, stdout, _ = e.exec(t, ctx, nil, "show", "dev")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "Workspace:     admin/dev")
	require.Regexp(t, `docker_container\.main\s+dev\s+connecting\s+created\s+linux/amd64`, stdout)

	code, _, stderr = e.exec(t, ctx, nil, "show", "nope")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, `workspace "nope" not found`)
}

func TestStopStartRestartDelete(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, 2*time.Minute)
	ws := e.createWorkspace(t, ctx, "dev")

	status := func() codersdk.WorkspaceStatus {
		w, err := e.owner.Workspace(ctx, ws.ID)
		require.NoError(t, err)
		return w.LatestBuild.Status
	}
	// Stop is destructive: a non-terminal needs -y.
	code, _, stderr := e.exec(t, ctx, nil, "stop", "dev")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "pass -y")

	r := e.start(ctx, nil, "stop", "dev", "-y")
	job := e.playJob(t, ctx, r, jobOutcome{lines: []string{"stopping the container"}})
	require.Equal(t, "stop", job.WorkspaceBuild.Metadata.WorkspaceTransition)
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "The admin/dev workspace is stopped.")
	require.Equal(t, codersdk.WorkspaceStatusStopped, status())

	code, _, stderr = e.exec(t, ctx, nil, "stop", "dev", "-y")
	require.Equal(t, 0, code)
	require.Contains(t, stderr, "already stopped")

	r = e.start(ctx, nil, "start", "dev")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"starting the container"}})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Equal(t, codersdk.WorkspaceStatusRunning, status())

	r = e.start(ctx, nil, "restart", "dev", "-y")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"restart: stopping"}})
	r.waitFor(t, &r.stderr, "Build #5 (start)")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"restart: starting"}})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "has been restarted")
	require.Equal(t, codersdk.WorkspaceStatusRunning, status())

	// A failed build exits non-zero with Terraform's error.
	r = e.start(ctx, nil, "stop", "dev", "-y")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"trying to stop"}, fail: "Error: container is locked"})
	require.NotEqual(t, 0, r.wait(t, ctx))
	require.Contains(t, r.stderr.String(), "build #6 (stop) of admin/dev failed:\nError: container is locked")

	r = e.start(ctx, nil, "delete", "dev", "-y")
	job = e.playJob(t, ctx, r, jobOutcome{lines: []string{"destroying"}})
	require.Equal(t, "destroy", job.WorkspaceBuild.Metadata.WorkspaceTransition)
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "has been deleted")
	_, err := e.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "dev")
	require.Error(t, err)
}

func TestDeleteOrphan(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	e.createWorkspace(t, ctx, "dev")
	// No daemon plays this build: an orphan delete runs no Terraform.
	code, stdout, stderr := e.exec(t, ctx, nil, "delete", "dev", "--orphan", "-y")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "==> Orphan\nOrphaned by admin")
	require.Contains(t, stdout, "has been deleted")
	_, err := e.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "dev")
	require.Error(t, err)
}

func TestLogs(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws := e.createWorkspace(t, ctx, "dev")

	code, stdout, stderr := e.exec(t, ctx, nil, "logs", "dev")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "creating dev")
	require.Contains(t, stderr, "Build #1 (start) of admin/dev succeeded.")

	// Follow a build started elsewhere.
	_, err := e.owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	r := e.start(ctx, nil, "logs", "dev", "-f")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"followed line one", "followed line two"}, fail: "Error: nope"})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	require.Contains(t, r.stdout.String(), "followed line one\n==> Applying\nfollowed line two\n")
	require.Contains(t, r.stderr.String(), "failed:\nError: nope")

	code, stdout, _ = e.exec(t, ctx, nil, "logs", "dev", "--build", "1")
	require.Equal(t, 0, code)
	require.Contains(t, stdout, "creating dev")
	require.NotContains(t, stdout, "followed")

	code, _, stderr = e.exec(t, ctx, nil, "logs", "dev", "--build", "7")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "has no build #7")
}

func TestCancel(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws := e.createWorkspace(t, ctx, "dev")

	code, _, stderr := e.exec(t, ctx, nil, "cancel", "dev")
	require.Equal(t, 0, code)
	require.Contains(t, stderr, "no build in progress")

	b, err := e.owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	code, stdout, stderr := e.exec(t, ctx, nil, "cancel", "dev")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Canceling build #2")
	b, err = e.owner.WorkspaceBuild(ctx, b.ID)
	require.NoError(t, err)
	require.Contains(t, []codersdk.ProvisionerJobStatus{codersdk.ProvisionerJobCanceled, codersdk.ProvisionerJobCanceling}, b.Job.Status)
}

// TestInterruptStopsFollowing sends the test process a real SIGINT while a
// build and an import are followed. Not parallel: every command following a
// job in this process would take the signal. The signal is sent only once
// the command printed "Queued", by which point it handles SIGINT.
func TestInterruptStopsFollowing(t *testing.T) {
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)
	ws := e.createWorkspace(t, ctx, "dev")

	r := e.start(ctx, nil, "stop", "dev", "-y")
	r.waitFor(t, &r.stderr, "Queued (position 1")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	require.Equal(t, 130, r.wait(t, ctx))
	require.Contains(t, r.stderr.String(), "Stopped following build #2 of admin/dev; it goes on.")
	require.Contains(t, r.stderr.String(), "coder cancel admin/dev")
	// The build goes on: a daemon can still take and finish it.
	w, err := e.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobPending, w.LatestBuild.Job.Status)
	r = e.start(ctx, nil, "logs", "dev", "-f")
	e.playJob(t, ctx, r, jobOutcome{lines: []string{"stopped after all"}})
	require.Equal(t, 0, r.wait(t, ctx))

	// An interrupted push cancels its import: nobody would promote it.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"main.tf": "# v2"})
	r = e.start(ctx, nil, "templates", "push", "docker", "-d", dir)
	r.waitFor(t, &r.stderr, "Queued (position 1")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	require.Equal(t, 130, r.wait(t, ctx))
	require.Contains(t, r.stderr.String(), "template docker was not changed")
	tmpl, err := e.owner.TemplateByName(ctx, e.org, "docker")
	require.NoError(t, err)
	versions, err := e.owner.TemplateVersionsByTemplate(ctx, tmpl.ID)
	require.NoError(t, err)
	require.Len(t, versions, 2)
	require.Equal(t, codersdk.ProvisionerJobCanceled, versions[0].Job.Status)
}
