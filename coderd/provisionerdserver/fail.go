package provisionerdserver

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// FailJob serves POST /{job}/fail: the job ends with the daemon's error,
// keeping the workspace's last good state.
func (s *Server) FailJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req codersdk.FailJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	jobID, ok := s.workerJob(w, r, req.DaemonID)
	if !ok {
		return
	}
	if req.Error == "" {
		req.Error = "The provisioner reported a failure without a message."
	}
	msg, code := httpapi.Truncate(httpapi.NoNUL(req.Error), maxErrorBytes), httpapi.Truncate(httpapi.NoNUL(req.ErrorCode), 64)
	var ended database.ProvisionerJob
	if !s.endWorkerJob(w, r, jobID, req.DaemonID, "fail job", func(tx *database.Store, job database.ProvisionerJob) error {
		ended = job
		return s.endJobWithError(ctx, tx, job, msg, code, req.State)
	}) {
		return
	}
	s.countBuild(ctx, ended, buildFailed)
	s.publishJobLogs(ctx, jobID)
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Job failed."})
}

// endJobWithError completes a job as failed (or canceled), keeping the
// workspace's last good Terraform state when the build has none.
func (s *Server) endJobWithError(ctx context.Context, tx *database.Store, job database.ProvisionerJob, msg, code string, state []byte) error {
	now := s.now()
	if codersdk.ProvisionerJobType(job.Type) == codersdk.ProvisionerJobTypeTemplateVersionImport {
		if err := tx.ClearTemplateVersionPendingVariables(ctx, job.ID); err != nil {
			return err
		}
	}
	if codersdk.ProvisionerJobType(job.Type) == codersdk.ProvisionerJobTypeWorkspaceBuild {
		build, err := tx.GetWorkspaceBuildByJobID(ctx, job.ID)
		if err != nil {
			return err
		}
		if state == nil && build.ProvisionerState == nil {
			if state, err = tx.GetLastStateBefore(ctx, build.WorkspaceID, build.BuildNumber); err != nil {
				return err
			}
		}
		if state != nil {
			if err := tx.UpdateWorkspaceBuildState(ctx, build.ID, state, now); err != nil {
				return err
			}
		}
	}
	_, err := tx.CompleteProvisionerJob(ctx, job.ID, &msg, code, now)
	return err
}

// failJobInternal fails a job coderd itself could not hand out, with msg
// as its last log line and its error. The first failing statement's error
// is returned: after it PostgreSQL refuses the rest of the transaction.
func (s *Server) failJobInternal(ctx context.Context, job database.ProvisionerJob, msg, code string) error {
	msg = httpapi.Truncate(httpapi.NoNUL(msg), maxErrorBytes)
	err := s.opts.DB.InTx(ctx, func(tx *database.Store) error {
		if err := tx.InsertProvisionerJobLogs(ctx, job.ID, []database.ProvisionerJobLog{{CreatedAt: s.now(), Source: string(codersdk.LogSourceProvisionerDaemon),
			Level: string(codersdk.ProvisionerLogLevelError), Stage: "Coder", Output: msg}}); err != nil {
			return fmt.Errorf("insert failure log: %w", err)
		}
		if err := s.endJobWithError(ctx, tx, job, msg, code, nil); err != nil {
			return fmt.Errorf("end job: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fail job %s: %w", job.ID, err)
	}
	s.countBuild(ctx, job, buildFailed)
	s.publishJobLogs(ctx, job.ID)
	return nil
}

// CancelJob cancels a job for a user: a pending job ends at once (keeping
// its workspace's last good state), a running one is told to stop at its
// next heartbeat. It returns database.ErrNotFound when the job has already
// ended or is being canceled.
func (s *Server) CancelJob(ctx context.Context, jobID uuid.UUID) error {
	job, err := s.opts.DB.CancelProvisionerJob(ctx, jobID, s.now())
	if err != nil {
		return err
	}
	if job.CompletedAt != nil {
		if err := s.onJobEnded(ctx, job); err != nil {
			// The job is canceled; only the restored state (or the
			// cleanup of an import's values) is missing.
			s.opts.Logger.ErrorContext(ctx, "finish canceled job", "job_id", job.ID, "error", err)
		}
	}
	s.publishJobLogs(ctx, jobID)
	return nil
}

// onJobEnded runs after a job ended outside a daemon (canceled while
// pending): keep the workspace's last good state, or drop an import's
// pushed variable values.
func (s *Server) onJobEnded(ctx context.Context, job database.ProvisionerJob) error {
	if codersdk.ProvisionerJobType(job.Type) == codersdk.ProvisionerJobTypeTemplateVersionImport {
		return s.opts.DB.ClearTemplateVersionPendingVariables(ctx, job.ID)
	}
	if codersdk.ProvisionerJobType(job.Type) != codersdk.ProvisionerJobTypeWorkspaceBuild {
		return nil
	}
	build, err := s.opts.DB.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		return fmt.Errorf("get build: %w", err)
	}
	if build.ProvisionerState != nil {
		return nil
	}
	st, err := s.opts.DB.GetLastStateBefore(ctx, build.WorkspaceID, build.BuildNumber)
	if err != nil {
		return fmt.Errorf("get previous state: %w", err)
	}
	if st == nil {
		return nil
	}
	if err := s.opts.DB.UpdateWorkspaceBuildState(ctx, build.ID, st, s.now()); err != nil {
		return fmt.Errorf("keep previous state: %w", err)
	}
	return nil
}
