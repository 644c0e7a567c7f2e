package provisionerdserver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// AcquireJob serves POST /acquire: it registers the daemon, then hands it
// the next job it can run, waiting up to the request's wait_seconds for one
// (204 when none came).
func (s *Server) AcquireJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := daemonFrom(ctx)
	var req codersdk.AcquireJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	if req.DaemonID == uuid.Nil {
		v.Add("daemon_id", "is required")
	}
	v.Text("name", req.Name, 128)
	v.Text("version", req.Version, 64)
	if len(req.Provisioners) == 0 {
		req.Provisioners = []string{"terraform"}
	}
	for i, p := range req.Provisioners {
		if p != "terraform" {
			v.Add(fmt.Sprintf("provisioners[%d]", i), "unsupported provisioner %q (only terraform)", p)
		}
	}
	if req.WaitSeconds < 0 || req.WaitSeconds > 300 {
		v.Add("wait_seconds", "must be between 0 and 300")
	}
	tags := ValidateTags(&v, "tags", req.Tags)
	if d.KeyTags != nil {
		if len(req.Tags) > 0 && !maps.Equal(tags, d.KeyTags) {
			v.Add("tags", "a daemon using a provisioner key takes the key's tags; drop --tag or create a key with these tags")
		}
		tags = d.KeyTags
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid acquire request.", v.Errors())
		return
	}
	name := req.Name
	if name == "" {
		name = req.DaemonID.String()[:8]
	}
	err := s.opts.DB.UpsertProvisionerDaemon(ctx, database.ProvisionerDaemon{
		ID: req.DaemonID, OrganizationID: d.OrgID, Name: name, Provisioners: req.Provisioners, Tags: tags, KeyID: d.KeyID,
		Version: req.Version, APIVersion: codersdk.ProvisionerAPIVersion, LastSeenAt: s.now(),
	})
	if err != nil {
		httpapi.InternalError(w, r, s.opts.Logger, "register daemon", err)
		return
	}
	// Register for wake-ups before the first look, so a job queued in
	// between is never missed.
	wake, done := s.acquirer.wait(d.OrgID)
	defer done()
	timeout := time.NewTimer(time.Duration(req.WaitSeconds) * time.Second)
	defer timeout.Stop()
	poll := time.NewTicker(s.opts.AcquirePollInterval)
	defer poll.Stop()
	for {
		job, err := s.opts.DB.AcquireProvisionerJob(ctx, d.OrgID, req.DaemonID, req.Provisioners, tags, s.now())
		switch {
		case err == nil:
			if ctx.Err() != nil {
				// The daemon hung up (shutdown) as we took the job: put it
				// back rather than leave it for the reaper.
				s.releaseJob(ctx, job, req.DaemonID)
				return
			}
			payload, err := s.acquiredJob(ctx, job)
			if err != nil {
				s.opts.Logger.ErrorContext(ctx, "prepare acquired job; failing it", "job_id", job.ID, "error", err)
				if ferr := s.failJobInternal(ctx, job, "Coder could not prepare the job: "+err.Error(), codersdk.JobErrorCodeInternal); ferr != nil {
					s.opts.Logger.ErrorContext(ctx, "fail unpreparable job", "job_id", job.ID, "error", ferr)
				}
				continue
			}
			s.opts.Logger.DebugContext(ctx, "job acquired", "job_id", job.ID, "daemon", name, "queued_for", s.now().Sub(job.CreatedAt))
			httpapi.Write(w, http.StatusOK, payload)
			return
		case !errors.Is(err, database.ErrNotFound):
			httpapi.InternalError(w, r, s.opts.Logger, "acquire job", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// releaseJob returns a job nobody received to the queue and wakes daemons.
// ctx has usually ended (the daemon hung up): the writes are detached.
func (s *Server) releaseJob(ctx context.Context, job database.ProvisionerJob, daemonID uuid.UUID) {
	ctx, cancel := s.detached(ctx)
	defer cancel()
	if err := s.opts.DB.ReleaseProvisionerJob(ctx, job.ID, daemonID); err != nil {
		s.opts.Logger.WarnContext(ctx, "release unclaimed job", "job_id", job.ID, "error", err)
		return
	}
	if err := s.opts.Pubsub.Publish(ctx, database.ChannelJobPosted, []byte(job.OrganizationID.String())); err != nil {
		// Waiting daemons still find it at their next safety-net poll.
		s.opts.Logger.WarnContext(ctx, "announce released job", "job_id", job.ID, "error", err)
	}
}
