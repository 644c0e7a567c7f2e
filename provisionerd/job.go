package provisionerd

import (
	"context"
	"errors"
	"fmt"
	"github.com/opencoder/coder/backoff"
	"log/slog"
	"strings"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// Stages of the lines the daemon itself writes into a job's log.
const (
	StageSettingUp  = "Setting up"
	StageCanceling  = "Canceling"
	StageCleaningUp = "Cleaning up"
)

// jobRun is one acquired job on its way through the daemon. It is driven by
// the acquire loop's goroutine (runJob); update runs on the batcher's.
type jobRun struct {
	d      *Daemon
	job    *codersdk.AcquiredJob
	logger *slog.Logger
	// ctx is the runner's context. It is canceled with cause
	// errJobCanceled (a user canceled), errJobLost (coderd took the job
	// away) or an ErrDaemonShutdown error (Close, Shutdown's grace).
	ctx    context.Context
	cancel context.CancelCauseFunc
	logs   *logBatcher
}

// runResult is what the runner returned.
type runResult struct {
	imp   *codersdk.CompletedTemplateImport
	build *codersdk.CompletedWorkspaceBuild
	err   error
	// forced: the runner did not return within ForceCancelGrace of the
	// cancel; the other fields are empty.
	forced bool
}

// runJob runs one job to its report. It returns when the job was reported
// (or given up as lost) and its runner returned.
func (d *Daemon) runJob(job *codersdk.AcquiredJob) {
	d.acquired.Add(1)
	d.running.Add(1)
	defer d.running.Add(-1)

	j := &jobRun{
		d:      d,
		job:    job,
		logger: d.logger.With(slog.String("job_id", job.JobID.String()), slog.String("job_type", string(job.Type))),
	}
	j.ctx, j.cancel = context.WithCancelCause(d.hardCtx)
	defer j.cancel(nil)
	// The batcher's context outlives the runner's: the last lines and the
	// heartbeats during the final report still need it.
	sendCtx, stopSending := context.WithCancel(context.Background())
	defer stopSending()
	j.logs = newLogBatcher(batcherOptions{
		Send:       j.update,
		Interval:   d.opts.LogFlushInterval,
		Heartbeat:  d.opts.HeartbeatInterval,
		MaxBatch:   d.opts.LogBatchSize,
		BackoffMin: d.opts.BackoffMin,
		BackoffMax: d.opts.BackoffMax,
		Logger:     j.logger,
	})
	go j.logs.Run(sendCtx)
	defer j.logs.Stop()

	j.logger.Info("acquired job")
	j.daemonLog(StageSettingUp, codersdk.ProvisionerLogLevelInfo, "Acquired job by provisioner daemon %s (%s)", d.opts.Name, d.opts.Version)

	results := make(chan runResult, 1)
	go func() { results <- j.runRunner() }()
	res := j.wait(results)

	if cause := context.Cause(j.ctx); errors.Is(cause, errJobLost) {
		d.lost.Add(1)
		j.logger.Warn("coderd took the job away (reaped or reassigned); dropping it", slog.Any("result_error", res.err))
	} else {
		j.report(res)
	}
	if res.forced {
		// The job is reported; still join the runner, whose own kill
		// timer (Terraform's interrupt grace) ends it.
		<-results
	}
}

// wait returns the runner's result, or a forced one if the runner does not
// return within ForceCancelGrace after the job's context was canceled.
func (j *jobRun) wait(results <-chan runResult) runResult {
	select {
	case res := <-results:
		return res
	case <-j.ctx.Done():
	}
	cause := context.Cause(j.ctx)
	switch {
	case errors.Is(cause, errJobCanceled):
		j.logger.Info("job canceled; interrupting the runner")
		j.daemonLog(StageCanceling, codersdk.ProvisionerLogLevelWarn, "Job canceled: interrupting Terraform (it may take up to %s to stop cleanly)", j.d.forceCancelGrace)
	case errors.Is(cause, ErrDaemonShutdown):
		j.logger.Warn("interrupting job", slog.Any("reason", cause))
		j.daemonLog(StageCanceling, codersdk.ProvisionerLogLevelWarn, "Provisioner daemon %s is shutting down: interrupting Terraform", j.d.opts.Name)
	case errors.Is(cause, errJobLost):
		j.logger.Warn("coderd no longer considers this daemon the job's worker; interrupting the runner")
	}
	t := time.NewTimer(j.d.forceCancelGrace)
	defer t.Stop()
	select {
	case res := <-results:
		return res
	case <-t.C:
		j.logger.Error("runner did not stop after the interrupt; failing the job without its result",
			slog.Duration("grace", j.d.forceCancelGrace))
		return runResult{forced: true}
	}
}

// runRunner calls the runner for the job's type, turning a panic into an
// INTERNAL failure so one bad job cannot take the daemon down.
func (j *jobRun) runRunner() (res runResult) {
	defer func() {
		if p := recover(); p != nil {
			j.logger.Error("runner panicked", slog.Any("panic", p))
			res = runResult{err: &JobError{Code: codersdk.JobErrorCodeInternal, Err: fmt.Errorf("runner panic: %v", p)}}
		}
	}()
	logf := func(l codersdk.ProvisionerLog) { j.logs.Add(l) }
	switch j.job.Type {
	case codersdk.ProvisionerJobTypeTemplateVersionImport:
		imp, err := j.d.opts.Runner.Import(j.ctx, j.job, logf)
		return runResult{imp: imp, err: err}
	case codersdk.ProvisionerJobTypeWorkspaceBuild:
		build, err := j.d.opts.Runner.Build(j.ctx, j.job, logf)
		return runResult{build: build, err: err}
	default:
		return runResult{err: &JobError{Code: codersdk.JobErrorCodeInternal, Err: fmt.Errorf("unsupported job type %q (this daemon is version %s)", j.job.Type, j.d.opts.Version)}}
	}
}

// update is the batcher's Send: it delivers logs, and reads the answer for
// a cancel or a lost job.
func (j *jobRun) update(ctx context.Context, logs []codersdk.ProvisionerLog) error {
	resp, err := j.d.client.UpdateJob(ctx, j.job.JobID, codersdk.UpdateJobRequest{DaemonID: j.d.opts.ID, Logs: logs})
	j.d.conn.observe(err)
	if err != nil {
		if classify(err) == callLost {
			j.cancel(errJobLost)
		}
		return fmt.Errorf("update job: %w", err)
	}
	if resp.Canceled {
		j.cancel(errJobCanceled)
	}
	return nil
}

// daemonLog writes a line of the daemon's own into the job's log.
func (j *jobRun) daemonLog(stage string, level codersdk.ProvisionerLogLevel, format string, args ...any) {
	j.logs.Add(codersdk.ProvisionerLog{
		CreatedAt: time.Now().UTC(),
		Level:     level,
		Stage:     stage,
		Output:    fmt.Sprintf(format, args...),
		Source:    codersdk.LogSourceProvisionerDaemon,
	})
}

// report flushes the logs and sends the job's outcome, retrying while
// coderd is unreachable, for at most ReportTimeout.
func (j *jobRun) report(res runResult) {
	ctx, cancel := context.WithTimeout(context.Background(), j.d.opts.ReportTimeout)
	defer cancel()

	complete, fail := j.outcome(res)
	if fail != nil && fail.ErrorCode != codersdk.JobErrorCodeTerraform {
		// Terraform's own errors are in the log already; say why anything
		// else ended the job.
		j.daemonLog(StageCleaningUp, codersdk.ProvisionerLogLevelError, "%s", fail.Error)
	}
	fail, err := j.deliver(ctx, complete, fail)
	if err != nil && classify(err) == callLost {
		j.d.lost.Add(1)
		j.logger.Warn("coderd took the job away before its report; dropping it", slog.Any("error", err))
		return
	}
	if err != nil {
		j.logger.Error("could not report the job's result; coderd will fail it as hung", slog.Any("error", err))
	}
	switch {
	case fail == nil:
		j.d.succeeded.Add(1)
		j.logger.Info("job succeeded")
	case fail.ErrorCode == codersdk.JobErrorCodeCanceled:
		j.d.canceled.Add(1)
		j.logger.Info("job canceled")
	default:
		j.d.failed.Add(1)
		j.logger.Warn("job failed", slog.String("error_code", fail.ErrorCode), slog.String("error", fail.Error))
	}
}

// deliver sends the remaining logs, then the result. It returns the
// failure it reported (nil after a success) and the delivery error.
func (j *jobRun) deliver(ctx context.Context, complete *codersdk.CompleteJobRequest, fail *codersdk.FailJobRequest) (*codersdk.FailJobRequest, error) {
	d := j.d
	if err := j.logs.Flush(ctx); err != nil {
		if classify(err) == callLost {
			return fail, err
		}
		// Go on: the result matters more than the last lines.
		j.logger.Warn("could not send the job's last log lines", slog.Any("error", err))
	}
	if complete != nil {
		err := j.retry(ctx, func(ctx context.Context) error { return d.client.CompleteJob(ctx, j.job.JobID, *complete) })
		if err == nil || classify(err) != callRejected {
			return nil, err
		}
		// coderd refused the result (it failed validation): fail the job
		// with the reason, keeping a build's new state.
		j.logger.Error("coderd rejected the job's result", slog.Any("error", err))
		fail = &codersdk.FailJobRequest{
			DaemonID:  d.opts.ID,
			Error:     fmt.Sprintf("coderd rejected the job's result: %v", err),
			ErrorCode: codersdk.JobErrorCodeInternal,
		}
		if complete.WorkspaceBuild != nil {
			fail.State = complete.WorkspaceBuild.State
		}
	}
	return fail, j.retry(ctx, func(ctx context.Context) error { return d.client.FailJob(ctx, j.job.JobID, *fail) })
}

// outcome turns the runner's result into the request that reports it.
// Exactly one of the two is non-nil.
func (j *jobRun) outcome(res runResult) (*codersdk.CompleteJobRequest, *codersdk.FailJobRequest) {
	id := j.d.opts.ID
	if res.err == nil && !res.forced {
		switch {
		case res.imp != nil:
			return &codersdk.CompleteJobRequest{DaemonID: id, TemplateImport: res.imp}, nil
		case res.build != nil:
			return &codersdk.CompleteJobRequest{DaemonID: id, WorkspaceBuild: res.build}, nil
		}
		res.err = &JobError{Code: codersdk.JobErrorCodeInternal, Err: errors.New("the runner returned neither a result nor an error")}
	}
	fail := &codersdk.FailJobRequest{DaemonID: id}
	if res.build != nil {
		fail.State = res.build.State
	}
	cause := context.Cause(j.ctx)
	switch {
	case errors.Is(cause, errJobCanceled):
		fail.ErrorCode = codersdk.JobErrorCodeCanceled
		fail.Error = "The job was canceled."
		if res.forced {
			fail.Error = fmt.Sprintf("The job was canceled; Terraform did not stop within %s of the interrupt, so the daemon stopped waiting for it.", j.d.forceCancelGrace)
		}
	case errors.Is(cause, ErrDaemonShutdown):
		fail.ErrorCode = codersdk.JobErrorCodeDaemonShutdown
		reason := strings.TrimPrefix(cause.Error(), ErrDaemonShutdown.Error()+": ")
		fail.Error = fmt.Sprintf("Provisioner daemon %s shut down before the job finished (%s), so the job was interrupted. Run it again.", j.d.opts.Name, reason)
	case res.forced:
		fail.ErrorCode = codersdk.JobErrorCodeInternal
		fail.Error = "The runner did not stop after an interrupt."
	default:
		fail.ErrorCode = ErrorCode(res.err)
		fail.Error = res.err.Error()
	}
	return nil, fail
}

// retry calls fn until it succeeds, fails for a reason retrying cannot fix,
// or ctx ends.
func (j *jobRun) retry(ctx context.Context, fn func(context.Context) error) error {
	bo := backoff.New(j.d.opts.BackoffMin, j.d.opts.BackoffMax)
	for {
		rctx, cancel := context.WithTimeout(ctx, defaultRequestTimeout)
		err := fn(rctx)
		cancel()
		j.d.conn.observe(err)
		if err == nil || classify(err) != callRetry {
			return err
		}
		if !bo.Wait(ctx) {
			return fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		}
	}
}
