package coderd

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
func (api *API) runReaper(ctx context.Context) {
	t := time.NewTicker(api.opts.ReapInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := api.ReapHungJobs(ctx); err != nil && ctx.Err() == nil {
			api.opts.Logger.WarnContext(ctx, "reap hung jobs", "error", err)
		} else if n > 0 {
			api.opts.Logger.InfoContext(ctx, "reaped hung jobs", "count", n)
		}
	}
}

// ReapHungJobs fails every running job not heard from within
// HeartbeatTimeout and returns how many it failed.
func (api *API) ReapHungJobs(ctx context.Context) (int, error) {
	now := api.now()
	jobs, err := api.opts.DB.GetHungProvisionerJobs(ctx, now.Add(-api.opts.HeartbeatTimeout), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		reaped, err := api.reapJob(ctx, j, now)
		if err != nil {
			return n, fmt.Errorf("reap job %s: %w", j.ID, err)
		}
		if reaped {
			n++
		}
	}
	return n, nil
}

func (api *API) reapJob(ctx context.Context, stale database.ProvisionerJob, now time.Time) (bool, error) {
	var reaped bool
	var msg string
	err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		job, err := tx.GetProvisionerJobByIDForUpdate(ctx, stale.ID)
		if err != nil {
			return err
		}
		// Re-check under the lock: a heartbeat may have just arrived.
		if job.CompletedAt != nil || job.StartedAt == nil || now.Sub(job.UpdatedAt) < api.opts.HeartbeatTimeout {
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
			"The workspace keeps its last good Terraform state; start the build again once a daemon is available.", daemon, silent, api.opts.HeartbeatTimeout)
		if err := tx.InsertProvisionerJobLogs(ctx, job.ID, []database.ProvisionerJobLog{{
			CreatedAt: now, Source: string(codersdk.LogSourceProvisionerDaemon), Level: string(codersdk.ProvisionerLogLevelError), Stage: "Cleaning Up", Output: msg,
		}}); err != nil {
			return err
		}
		if err := api.endJobWithError(ctx, tx, job, msg, codersdk.JobErrorCodeDaemonGone, nil); err != nil {
			return err
		}
		reaped = true
		return nil
	})
	if err != nil || !reaped {
		return false, err
	}
	api.opts.Logger.WarnContext(ctx, "failed hung job", "job_id", stale.ID, "reason", msg)
	api.publishJobLogs(ctx, stale.ID)
	return true, nil
}
