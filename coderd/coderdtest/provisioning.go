package coderdtest

import (
	"archive/tar"
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
)

// TestPSK is the pre-shared key test deployments accept from daemons when
// started with Options.ProvisionerPSK = TestPSK.
const TestPSK = "test-psk-0123456789"

// Tar builds a tar archive from name -> content.
func Tar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
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
	ctx := Context(t, 30*time.Second)
	up, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(Tar(t, files)))
	require.NoError(t, err)
	v, err := client.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{
		StorageMethod: "file", FileID: up.ID, Provisioner: "terraform", ProvisionerTags: tags,
	})
	require.NoError(t, err)
	return v
}

// AcquireJob takes the next job as daemon id, failing the test if none.
func AcquireJob(t testing.TB, daemon *codersdk.Client, id uuid.UUID, tags map[string]string) *codersdk.AcquiredJob {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	job, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: id, Name: "test-" + id.String()[:4], Tags: tags, WaitSeconds: 10})
	require.NoError(t, err)
	require.NotNil(t, job, "no job acquired")
	return job
}

// CompleteImport acquires the next job (an import) and completes it with
// the given parameters and a single resource with one agent.
func CompleteImport(t testing.TB, daemon *codersdk.Client, params []codersdk.TemplateVersionParameter) uuid.UUID {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	id := uuid.New()
	job := AcquireJob(t, daemon, id, nil)
	require.Equal(t, codersdk.ProvisionerJobTypeTemplateVersionImport, job.Type)
	res := []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{Name: "main", OS: "linux", Arch: "amd64", Auth: "token"}}}}
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: &codersdk.CompletedTemplateImport{
		Parameters: params, StartResources: res, StopResources: nil, Readme: "# hello",
	}}))
	return job.JobID
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
	ctx := Context(t, 30*time.Second)
	id := uuid.New()
	job := AcquireJob(t, daemon, id, nil)
	require.NotNil(t, job.WorkspaceBuild, "acquired a %s job, not a build", job.Type)
	require.Equal(t, buildID, job.WorkspaceBuild.WorkspaceBuildID, "acquired another build than expected")
	res := []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
		Name: "main", Token: agentToken, Auth: "token", OS: "linux", Arch: "amd64",
	}}}}
	require.NoError(t, daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: id,
		WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte("{}"), Resources: res}}))
	return job
}
