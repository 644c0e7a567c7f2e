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
//
// A daemon cannot heartbeat through a replica that cannot reach the
// database, so silence that overlaps this replica's own outage proves
// nothing: after an outage the reaper holds off for a whole
// HeartbeatTimeout (see reapGate), giving the daemons, whose jobs ran on
// meanwhile, time to be heard again. Otherwise a database restart longer
// than the timeout would fail every running job once it came back.
func (s *Server) runReaper(ctx context.Context) {
	t := time.NewTicker(s.opts.ReapInterval)
	defer t.Stop()
	var gate reapGate
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := s.opts.DB.Ping(ctx)
		if ctx.Err() != nil {
			return
		}
		switch gate.observe(s.now(), err == nil) {
		case gateLost:
			s.opts.Logger.WarnContext(ctx, "reaper: database unreachable; reaping waits until it is back", "error", err)
		case gateBack:
			s.opts.Logger.InfoContext(ctx, "reaper: database back; no job is reaped for one heartbeat timeout, so daemons can report first", "timeout", s.opts.HeartbeatTimeout)
		}
		if !gate.allowed(s.now(), s.opts.HeartbeatTimeout) {
			continue
		}
		if n, err := s.ReapHungJobs(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.WarnContext(ctx, "reap hung jobs", "error", err)
			if database.IsUnavailable(err) {
				gate.observe(s.now(), false)
			}
		} else if n > 0 {
			s.opts.Logger.InfoContext(ctx, "reaped hung jobs", "count", n)
		}
	}
}

// gateEvent is what one observation changed.
type gateEvent int

const (
	gateSame gateEvent = iota
	gateLost           // the database just became unreachable
	gateBack           // it just answered again
)

// reapGate remembers this replica's last database outage: reaping is
// allowed only once the database has been reachable for a whole heartbeat
// timeout since it came back (or was never lost).
type reapGate struct {
	down   bool
	backAt time.Time // zero: never lost
}

func (g *reapGate) observe(now time.Time, reachable bool) gateEvent {
	switch {
	case !reachable && !g.down:
		g.down = true
		return gateLost
	case reachable && g.down:
		g.down = false
		g.backAt = now
		return gateBack
	}
	return gateSame
}

func (g *reapGate) allowed(now time.Time, timeout time.Duration) bool {
	return !g.down && (g.backAt.IsZero() || now.Sub(g.backAt) >= timeout)
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
	s.countBuild(ctx, stale, buildFailed)
	s.publishJobLogs(ctx, stale.ID)
	return true, nil
}
