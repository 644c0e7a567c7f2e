package scaletest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

// templateTF is the template's source. Nothing runs it: Provision plays
// the provisioner daemon and answers every job itself.
const templateTF = `resource "coder_agent" "main" {
  os   = "linux"
  arch = "amd64"
}
`

// Provision creates n running workspaces of one new template, each with
// one agent, and returns the agents' tokens. It is the cheapest real path
// to agents in the database: the workspaces are created through the API
// (coderd's own inserts, authorization and build records) and daemon,
// authenticating with the deployment's provisioner PSK, acquires and
// completes their build jobs at once with the resources a Terraform run of
// the docker template would report, so neither Terraform nor Docker runs.
// workers workspaces are in flight at a time.
func Provision(ctx context.Context, owner, daemon *codersdk.Client, org uuid.UUID, name string, n, workers int) ([]string, error) {
	tmpl, err := createTemplate(ctx, owner, daemon, org, name)
	if err != nil {
		return nil, err
	}
	var (
		mu     sync.Mutex
		tokens []string
		errs   []error
		wg     sync.WaitGroup
	)
	next := make(chan int)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			daemonID := uuid.New()
			for i := range next {
				token, err := provisionOne(ctx, owner, daemon, daemonID, tmpl.ID, fmt.Sprintf("%s-%05d", name, i))
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					tokens = append(tokens, token)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		mu.Lock()
		failed := len(errs) > 0
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return tokens, fmt.Errorf("%d of %d workspaces failed: %w", len(errs), n, errors.Join(errs[:min(len(errs), 3)]...))
	}
	return tokens, ctx.Err()
}

// createTemplate uploads the template and completes its import job.
func createTemplate(ctx context.Context, owner, daemon *codersdk.Client, org uuid.UUID, name string) (codersdk.Template, error) {
	archive, err := tarOf(map[string]string{"main.tf": templateTF})
	if err != nil {
		return codersdk.Template{}, err
	}
	up, err := owner.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(archive))
	if err != nil {
		return codersdk.Template{}, fmt.Errorf("upload template: %w", err)
	}
	v, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{StorageMethod: "file", FileID: up.ID, Provisioner: "terraform"})
	if err != nil {
		return codersdk.Template{}, fmt.Errorf("create template version: %w", err)
	}
	daemonID := uuid.New()
	job, err := acquire(ctx, daemon, daemonID)
	if err != nil {
		return codersdk.Template{}, err
	}
	if job.Type != codersdk.ProvisionerJobTypeTemplateVersionImport {
		return codersdk.Template{}, fmt.Errorf("acquired a %s job, want the template import", job.Type)
	}
	res := []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{Name: "main", OS: "linux", Arch: "amd64", Auth: "token"}}}}
	if err := daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID, TemplateImport: &codersdk.CompletedTemplateImport{StartResources: res}}); err != nil {
		return codersdk.Template{}, fmt.Errorf("complete import: %w", err)
	}
	// The version's status follows the job's completion in the same
	// transaction, so the template can be created right away.
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: name, VersionID: v.ID})
	if err != nil {
		return codersdk.Template{}, fmt.Errorf("create template: %w", err)
	}
	return tmpl, nil
}

// provisionOne creates a workspace and completes a build job (its own or
// another worker's: any queued one; each worker creates one workspace per
// job it completes, so the queue drains) with one agent and a new token.
func provisionOne(ctx context.Context, owner, daemon *codersdk.Client, daemonID, tmpl uuid.UUID, name string) (string, error) {
	if _, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl, Name: name}); err != nil {
		return "", fmt.Errorf("create workspace %s: %w", name, err)
	}
	job, err := acquire(ctx, daemon, daemonID)
	if err != nil {
		return "", err
	}
	if job.WorkspaceBuild == nil {
		return "", fmt.Errorf("acquired a %s job, want a workspace build", job.Type)
	}
	token := uuid.NewString()
	res := []codersdk.ProvisionerResource{{Name: "main", Type: "docker_container", Agents: []codersdk.ProvisionerAgent{{
		Name: "main", Token: token, Auth: "token", OS: "linux", Arch: "amd64", Directory: "/home/coder",
	}}}}
	if err := daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID,
		WorkspaceBuild: &codersdk.CompletedWorkspaceBuild{State: []byte("{}"), Resources: res}}); err != nil {
		return "", fmt.Errorf("complete build of %s: %w", job.WorkspaceBuild.WorkspaceName, err)
	}
	return token, nil
}

// acquire long-polls for the next job, for up to a minute.
func acquire(ctx context.Context, daemon *codersdk.Client, daemonID uuid.UUID) (*codersdk.AcquiredJob, error) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		job, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: daemonID, Name: "scaletest-" + daemonID.String()[:8],
			Provisioners: []string{"terraform"}, WaitSeconds: 10})
		if err != nil {
			return nil, fmt.Errorf("acquire job: %w", err)
		}
		if job != nil {
			return job, nil
		}
	}
	return nil, errors.New("no job to acquire within a minute")
}

func tarOf(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			return nil, fmt.Errorf("tar %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}
