package provisionerdserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// CompleteJob serves POST /{job}/complete: the daemon's result is stored
// in one transaction (an import's parameters and resources, or a build's
// state and resources) and the job marked succeeded.
func (s *Server) CompleteJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req codersdk.CompleteJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	jobID, ok := s.workerJob(w, r, req.DaemonID)
	if !ok {
		return
	}
	// A result is refused whole, naming the part at fault, rather than
	// failing in the database.
	for _, part := range []struct {
		field string
		value any
	}{{"template_import", req.TemplateImport}, {"workspace_build", req.WorkspaceBuild}} {
		if httpapi.HasNUL(part.value) {
			httpapi.Validation(w, "Invalid job result.", []codersdk.ValidationError{{Field: part.field, Detail: "must not contain NUL characters"}})
			return
		}
	}
	var badShape string
	var ended database.ProvisionerJob
	ok = s.endWorkerJob(w, r, jobID, req.DaemonID, "complete job", func(tx *database.Store, job database.ProvisionerJob) error {
		ended = job
		now := s.now()
		switch codersdk.ProvisionerJobType(job.Type) {
		case codersdk.ProvisionerJobTypeTemplateVersionImport:
			if req.TemplateImport == nil {
				badShape = "An import job must be completed with template_import."
				return nil
			}
			if err := s.storeImport(ctx, tx, job, req.TemplateImport, now); err != nil {
				return err
			}
		case codersdk.ProvisionerJobTypeWorkspaceBuild:
			if req.WorkspaceBuild == nil {
				badShape = "A build job must be completed with workspace_build."
				return nil
			}
			if err := s.storeBuild(ctx, tx, job, req.WorkspaceBuild, now); err != nil {
				return err
			}
		}
		_, err := tx.CompleteProvisionerJob(ctx, job.ID, nil, "", now)
		return err
	})
	if !ok {
		return
	}
	if badShape != "" {
		httpapi.Error(w, http.StatusBadRequest, badShape)
		return
	}
	s.countBuild(ctx, ended, buildSucceeded)
	s.publishJobLogs(ctx, jobID)
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Job completed."})
}

func (s *Server) storeImport(ctx context.Context, tx *database.Store, job database.ProvisionerJob, res *codersdk.CompletedTemplateImport, now time.Time) error {
	version, err := tx.GetTemplateVersionByJobID(ctx, job.ID)
	if err != nil {
		return err
	}
	params := res.Parameters
	if params == nil {
		params = []codersdk.TemplateVersionParameter{}
	}
	slices.SortStableFunc(params, func(a, b codersdk.TemplateVersionParameter) int { return int(a.Order - b.Order) })
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	if err := tx.UpdateTemplateVersionImported(ctx, version.ID, raw, httpapi.Truncate(res.Readme, 1<<20), now); err != nil {
		return err
	}
	if len(res.Presets) > 0 {
		presets, err := json.Marshal(res.Presets)
		if err != nil {
			return err
		}
		if err := tx.SetTemplateVersionPresets(ctx, version.ID, presets); err != nil {
			return err
		}
	}
	if err := storeVariables(ctx, tx, version.ID, res.Variables); err != nil {
		return err
	}
	if err := insertResources(ctx, tx, job.ID, "start", res.StartResources, now); err != nil {
		return err
	}
	return insertResources(ctx, tx, job.ID, "stop", res.StopResources, now)
}

func (s *Server) storeBuild(ctx context.Context, tx *database.Store, job database.ProvisionerJob, res *codersdk.CompletedWorkspaceBuild, now time.Time) error {
	build, err := tx.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		return err
	}
	state := res.State
	if state == nil {
		state = []byte{}
	}
	if err := tx.UpdateWorkspaceBuildState(ctx, build.ID, state, now); err != nil {
		return err
	}
	if err := insertResources(ctx, tx, job.ID, build.Transition, res.Resources, now); err != nil {
		return err
	}
	if build.Transition == string(codersdk.WorkspaceTransitionStart) {
		// Autostop: the workspace runs for its ttl from now (activity
		// pushes it later); none without a ttl.
		ws, err := tx.GetWorkspaceByID(ctx, build.WorkspaceID)
		if err != nil {
			return fmt.Errorf("get workspace: %w", err)
		}
		if ws.TTLMillis != nil && *ws.TTLMillis > 0 {
			deadline := now.Add(time.Duration(*ws.TTLMillis) * time.Millisecond)
			if err := tx.SetWorkspaceBuildDeadline(ctx, build.ID, &deadline, now); err != nil {
				return err
			}
		}
	}
	if build.Transition == string(codersdk.WorkspaceTransitionDelete) {
		if err := tx.MarkWorkspaceDeleted(ctx, build.WorkspaceID, now); err != nil {
			return fmt.Errorf("mark workspace deleted: %w", err)
		}
		ws, err := tx.GetWorkspaceByID(ctx, build.WorkspaceID)
		if err != nil {
			return fmt.Errorf("get workspace: %w", err)
		}
		if err := deleteOwnerWorkspaceToken(ctx, tx, ws.OwnerID, ws.ID); err != nil {
			return err
		}
	}
	return nil
}
