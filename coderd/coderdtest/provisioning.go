package coderdtest

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestPSK is the pre-shared key test deployments accept from daemons when
// started with Options.ProvisionerPSK = TestPSK.
const TestPSK = "test-psk-0123456789"

// Tar is testutil.Tar.
//
// Deprecated: use testutil.Tar; this remains for tests outside coderd that
// still call it.
func Tar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	return testutil.Tar(t, files)
}

// DaemonClient returns a client that authenticates as a provisioner daemon
// with the test PSK.
func DaemonClient(client *codersdk.Client) *codersdk.Client {
	c := codersdk.New(client.URL)
	c.Header = map[string][]string{codersdk.ProvisionerDaemonPSKHeader: {TestPSK}}
	return c
}

// CreateTemplateVersion uploads files and queues their import.
func CreateTemplateVersion(t testing.TB, client *codersdk.Client, org uuid.UUID, files map[string]string, tags map[string]string) codersdk.TemplateVersion {
	t.Helper()
	return CreateTemplateVersionWith(t, client, org, files, codersdk.CreateTemplateVersionRequest{ProvisionerTags: tags})
}

// CreateTemplateVersionWith uploads files and creates a version from req
// (template, tags, variable values...); the storage fields are filled in.
func CreateTemplateVersionWith(t testing.TB, client *codersdk.Client, org uuid.UUID, files map[string]string, req codersdk.CreateTemplateVersionRequest) codersdk.TemplateVersion {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	up, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, files)))
	require.NoError(t, err)
	req.StorageMethod, req.FileID, req.Provisioner = "file", up.ID, "terraform"
	v, err := client.CreateTemplateVersion(ctx, org, req)
	require.NoError(t, err)
	return v
}

// AcquireJob takes the next job as daemon id, failing the test if none.
func AcquireJob(t testing.TB, daemon *codersdk.Client, id uuid.UUID, tags map[string]string) *codersdk.AcquiredJob {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	job, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: id, Name: "test-" + id.String()[:4], Tags: tags, WaitSeconds: 10})
	require.NoError(t, err)
	require.NotNil(t, job, "no job acquired")
	return job
}

// CompleteImport acquires the next job (an import) and completes it with
// the given parameters and a single resource with one agent.
func CompleteImport(t testing.TB, daemon *codersdk.Client, params []codersdk.TemplateVersionParameter) uuid.UUID {
	t.Helper()
	res := []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{Name: "main", OS: "linux", Arch: "amd64", Auth: "token"}}}}
	job := CompleteImportWith(t, daemon, codersdk.CompletedTemplateImport{Parameters: params, StartResources: res, Readme: "# hello"})
	return job.JobID
}

// CompleteImportWith acquires the next job, which must be an import, and
// completes it with result; it returns the job as the daemon got it.
func CompleteImportWith(t testing.TB, daemon *codersdk.Client, result codersdk.CompletedTemplateImport) *codersdk.AcquiredJob {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	id := uuid.New()
	job := AcquireJob(t, daemon, id, nil)
	require.Equal(t, codersdk.ProvisionerJobTypeTemplateVersionImport, job.Type)
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &result}))
	return job
}

// AwaitJob polls until a job reaches a final status and returns it.
func AwaitJob(t testing.TB, get func() (codersdk.ProvisionerJob, error)) codersdk.ProvisionerJob {
	t.Helper()
	var last codersdk.ProvisionerJob
	require.Eventually(t, func() bool {
		j, err := get()
		if err != nil {
			return false
		}
		last = j
		return !j.Status.Active()
	}, 60*time.Second, 50*time.Millisecond)
	return last
}

// CompleteBuild acquires the next job, requires it to be the workspace build
// buildID, and completes it with one resource running one agent that
// authenticates with agentToken (a UUID). It returns the acquired job.
func CompleteBuild(t testing.TB, daemon *codersdk.Client, buildID uuid.UUID, agentToken string) *codersdk.AcquiredJob {
	t.Helper()
	return CompleteBuildWith(t, daemon, buildID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
		Name: "main", Token: agentToken, Auth: "token", OS: "linux", Arch: "amd64",
	}}}})
}

// CompleteBuildWith is CompleteBuild with the resources the "Terraform
// run" produced, for tests that need apps, scripts or several agents.
func CompleteBuildWith(t testing.TB, daemon *codersdk.Client, buildID uuid.UUID, res []codersdk.ProvisionerResource) *codersdk.AcquiredJob {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	id := uuid.New()
	job := AcquireJob(t, daemon, id, nil)
	require.NotNil(t, job.WorkspaceBuild, "acquired a %s job, not a build", job.Type)
	require.Equal(t, buildID, job.WorkspaceBuild.WorkspaceBuildID, "acquired another build than expected")
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id,
		WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte("{}"), Resources: res}}))
	return job
}
