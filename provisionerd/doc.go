// Package provisionerd is the provisioner daemon: the worker that takes
// build jobs from coderd's queue, runs them (Terraform, through a JobRunner)
// and reports logs and results back. `coder provisioner start` runs one as
// its own process; `coder server` may run built-in ones with the very same
// code, over the very same HTTP protocol (codersdk.AcquireJob, UpdateJob,
// CompleteJob, FailJob; see docs/architecture.md).
//
// The life of a job in a daemon:
//
//  1. One of Options.Concurrency acquire loops long-polls coderd
//     (AcquireJob). coderd answers at once when a matching job is queued
//     (it is woken by LISTEN/NOTIFY), so an idle daemon starts a new job in
//     milliseconds, not after a poll interval. A loop runs its job to the
//     end before it asks again, which bounds the daemon's concurrency.
//  2. While the runner works, a log batcher streams its lines in order
//     (every LogFlushInterval, or at once when LogBatchSize lines wait)
//     and sends an UpdateJob at least every HeartbeatInterval even when
//     there is nothing to say: that is the heartbeat coderd's reaper
//     watches. The answer says whether a user canceled the job.
//  3. A cancel (or a shutdown whose grace ran out) cancels the runner's
//     context: Terraform receives an interrupt, stops, writes its state.
//     If the runner has not returned ForceCancelGrace later, the job is
//     failed anyway, so no job stays "running".
//  4. The remaining lines are flushed, then the result is reported
//     (CompleteJob, or FailJob with an error code and, for a build, the
//     partial state Terraform left). Reports are retried through coderd
//     restarts; heartbeats continue meanwhile so the reaper keeps off.
//
// If coderd answers 404 or 409 for a job (it was reaped, or handed to
// another worker) the daemon stops running it and reports nothing: the job
// is no longer ours. When coderd is unreachable the acquire loops reconnect
// with jittered exponential backoff (package backoff, 100ms to 10s) and the
// daemon logs one line per outage, not one per retry.
//
// House rules: the daemon imports codersdk and the runner it is given,
// never coderd. Every goroutine it starts is joined by Shutdown or Close.
// Errors cross to coderd as codersdk.JobErrorCode* values, never as text to
// be parsed.
package provisionerd
