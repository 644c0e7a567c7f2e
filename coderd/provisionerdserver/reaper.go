package provisionerdserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
)

// runReaper fails running jobs whose daemon stopped heartbeating, until ctx
// ends. Daemons heartbeat every few seconds, so a silent one is gone well
// before the incumbent's five-minute hang detection would notice.
func (s *Server) runReaper(ctx context.Context) {
	t := time.NewTicker(s.opts.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := s.ReapHungJobs(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "reap hung jobs", "error", err)
		} else if n > 0 {
			s.opts.Logger.InfoContext(ctx, "reaped hung jobs", "count", n)
		}
	}
}

// ReapHungJobs fails every running job not heard from within
// HeartbeatTimeout and returns how many it failed.
func (s *Server) ReapHungJobs(ctx context.Context) (int, error) {
	now := s.now()
	jobs, err := s.opts.DB.GetHungProvisionerJobs(ctx, now.Add(-s.opts.HeartbeatTimeout), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		reaped, err := s.reapJob(ctx, j, now)
		if err != nil {
			return n, fmt.Errorf("reap job %s: %w", j.ID, err)
		}
		if reaped {
			n++
		}
	}
	return n, nil
}

func (s *Server) reapJob(ctx context.Context, stale database.ProvisionerJob, now time.Time) (bool, error) {
	var reaped bool
	var msg string
	err := s.opts.DB.InTx(ctx, func(tx *database.Store) error {
		job, err := tx.GetProvisionerJobByIDForUpdate(ctx, stale.ID)
		if err != nil {
			return err
		}
		// Re-check under the lock: a heartbeat may have just arrived.
		if job.CompletedAt != nil || job.StartedAt == nil || now.Sub(job.UpdatedAt) < s.opts.HeartbeatTimeout {
			return nil
		}
		daemon := "unknown"
		if job.WorkerID != nil {
			if name, err := tx.GetProvisionerDaemonName(ctx, *job.WorkerID); err == nil {
				daemon = name
			} else if !errors.Is(err, database.ErrNotFound) {
				return err
			}
		}
		silent := now.Sub(job.UpdatedAt).Round(time.Second)
		msg = fmt.Sprintf("Provisioner daemon %q stopped responding (no heartbeat for %s; the limit is %s), so the job was failed. "+
			"The workspace keeps its last good Terraform state; start the build again once a daemon is available.", daemon, silent, s.opts.HeartbeatTimeout)
		if err := tx.InsertProvisionerJobLogs(ctx, job.ID, []database.ProvisionerJobLog{{
			CreatedAt: now, Source: string(codersdk.LogSourceProvisionerDaemon), Level: string(codersdk.ProvisionerLogLevelError), Stage: "Cleaning Up", Output: msg,
		}}); err != nil {
			return err
		}
		if err := s.endJobWithError(ctx, tx, job, msg, codersdk.JobErrorCodeDaemonGone, nil); err != nil {
			return err
		}
		reaped = true
		return nil
	})
	if err != nil || !reaped {
		return false, err
	}
	s.opts.Logger.WarnContext(ctx, "failed hung job", "job_id", stale.ID, "reason", msg)
	s.publishJobLogs(ctx, stale.ID)
	return true, nil
}
