package provisionerdserver

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// Limits on what a daemon may send in one update.
const (
	maxLogsPerUpdate = 10000
	maxLogLineBytes  = 64 << 10
	maxErrorBytes    = 16 << 10
)

// workerJob parses {job} and checks the request names a daemon and that
// the job is in the caller's organization: a daemon authenticated for
// another organization (its provisioner key) finds it missing.
func (s *Server) workerJob(w http.ResponseWriter, r *http.Request, daemonID uuid.UUID) (uuid.UUID, bool) {
	id, err := uuid.Parse(chi.URLParam(r, "job"))
	if err != nil {
		httpapi.ResourceNotFound(w)
		return uuid.Nil, false
	}
	if daemonID == uuid.Nil {
		httpapi.Validation(w, "Invalid request.", []codersdk.ValidationError{{Field: "daemon_id", Detail: "is required"}})
		return uuid.Nil, false
	}
	job, err := s.opts.DB.GetProvisionerJobByID(r.Context(), id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && job.OrganizationID != daemonFrom(r.Context()).OrgID) {
		httpapi.ResourceNotFound(w)
		return uuid.Nil, false
	}
	if err != nil {
		httpapi.InternalError(w, r, s.opts.Logger, "get job", err)
		return uuid.Nil, false
	}
	return id, true
}

// errNotRunningHere ends endWorkerJob's transaction when the job is not
// running on the calling daemon.
var errNotRunningHere = errors.New("job not running on this daemon")

// endWorkerJob runs end in a transaction on the job, locked, once it is
// known to be running on daemonID; on failure it answers the request (404,
// 409 when the job is not running on this daemon, 500 naming what) and
// returns false.
func (s *Server) endWorkerJob(w http.ResponseWriter, r *http.Request, jobID, daemonID uuid.UUID, what string, end func(tx *database.Store, job database.ProvisionerJob) error) bool {
	ctx := r.Context()
	err := s.opts.DB.InTx(ctx, func(tx *database.Store) error {
		job, err := tx.GetProvisionerJobByIDForUpdate(ctx, jobID)
		if err != nil {
			return err
		}
		if job.WorkerID == nil || *job.WorkerID != daemonID || job.CompletedAt != nil {
			return errNotRunningHere
		}
		return end(tx, job)
	})
	switch {
	case err == nil:
		return true
	case errors.Is(err, database.ErrNotFound):
		httpapi.ResourceNotFound(w)
	case errors.Is(err, errNotRunningHere):
		httpapi.Error(w, http.StatusConflict, "This job is not running on this daemon.")
	default:
		httpapi.InternalError(w, r, s.opts.Logger, what, err)
	}
	return false
}

// UpdateJob serves POST /{job}/update: a heartbeat with the daemon's new
// log lines; the answer says whether the job was canceled.
func (s *Server) UpdateJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req codersdk.UpdateJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	jobID, ok := s.workerJob(w, r, req.DaemonID)
	if !ok {
		return
	}
	if len(req.Logs) > maxLogsPerUpdate {
		httpapi.Validation(w, "Too many log lines.", []codersdk.ValidationError{{Field: "logs", Detail: fmt.Sprintf("at most %d per update", maxLogsPerUpdate)}})
		return
	}
	logs := make([]database.ProvisionerJobLog, 0, len(req.Logs))
	for i, l := range req.Logs {
		switch l.Level {
		case codersdk.ProvisionerLogLevelTrace, codersdk.ProvisionerLogLevelDebug, codersdk.ProvisionerLogLevelInfo, codersdk.ProvisionerLogLevelWarn, codersdk.ProvisionerLogLevelError:
		case "":
			l.Level = codersdk.ProvisionerLogLevelInfo
		default:
			httpapi.Validation(w, "Invalid log line.", []codersdk.ValidationError{{Field: fmt.Sprintf("logs[%d].level", i), Detail: "unknown level " + string(l.Level)}})
			return
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt = s.now()
		}
		source := codersdk.LogSourceProvisioner
		if l.Source == codersdk.LogSourceProvisionerDaemon {
			source = codersdk.LogSourceProvisionerDaemon
		}
		logs = append(logs, database.ProvisionerJobLog{CreatedAt: l.CreatedAt, Source: string(source),
			Level: string(l.Level), Stage: httpapi.Truncate(httpapi.NoNUL(l.Stage), 128), Output: httpapi.Truncate(httpapi.NoNUL(l.Output), maxLogLineBytes)})
	}
	canceled, err := s.opts.DB.HeartbeatProvisionerJob(ctx, jobID, req.DaemonID, s.now())
	if errors.Is(err, database.ErrNotFound) {
		httpapi.Error(w, http.StatusConflict, "This job is not running on this daemon.", "It ended, was reaped after missed heartbeats, or belongs to another daemon: stop working on it.")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, s.opts.Logger, "heartbeat job", err)
		return
	}
	if err := s.opts.DB.TouchProvisionerDaemon(ctx, req.DaemonID, s.now()); err != nil {
		// The heartbeat is recorded; only the daemon list's "last seen" is stale.
		s.opts.Logger.WarnContext(ctx, "touch provisioner daemon", "daemon_id", req.DaemonID, "error", err)
	}
	if len(logs) > 0 {
		if err := s.opts.DB.InsertProvisionerJobLogs(ctx, jobID, logs); err != nil {
			httpapi.InternalError(w, r, s.opts.Logger, "store logs", err)
			return
		}
		s.publishJobLogs(ctx, jobID)
	}
	httpapi.Write(w, http.StatusOK, codersdk.UpdateJobResponse{Canceled: canceled})
}
