package cli

// This file holds what every command that waits on a provisioner job shares:
// following the job's logs live (with its queue position while it waits),
// rendering them, and turning Ctrl-C into "stop following".

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/opencoder/coder/codersdk"
)

// jobSource says where to read one provisioner job and its logs; a workspace
// build and a template import differ only in these two functions.
type jobSource struct {
	// job returns the job's current state.
	job func(ctx context.Context) (codersdk.ProvisionerJob, error)
	// logs returns the job's log lines after the given ID; with follow the
	// channel stays open until the job ends (see codersdk.streamJobLogs).
	logs func(ctx context.Context, after int64, follow bool) (<-chan codersdk.ProvisionerJobLog, func() error, error)
}

func buildSource(client *codersdk.Client, build codersdk.WorkspaceBuild) jobSource {
	return jobSource{
		job: func(ctx context.Context) (codersdk.ProvisionerJob, error) {
			b, err := client.WorkspaceBuild(ctx, build.ID)
			return b.Job, err
		},
		logs: func(ctx context.Context, after int64, follow bool) (<-chan codersdk.ProvisionerJobLog, func() error, error) {
			return client.WorkspaceBuildLogsAfter(ctx, build.ID, after, follow)
		},
	}
}

func versionSource(client *codersdk.Client, version codersdk.TemplateVersion) jobSource {
	return jobSource{
		job: func(ctx context.Context) (codersdk.ProvisionerJob, error) {
			v, err := client.TemplateVersion(ctx, version.ID)
			return v.Job, err
		},
		logs: func(ctx context.Context, after int64, follow bool) (<-chan codersdk.ProvisionerJobLog, func() error, error) {
			return client.TemplateVersionLogsAfter(ctx, version.ID, after, follow)
		},
	}
}

// Defaults of jobFollower's tuning fields (fields, not package state, so a
// caller or test can change them per follower).
const (
	defaultQueuePoll     = 2 * time.Second
	defaultReconnectWait = time.Second
	maxReconnects        = 5
)

// jobFollower prints one job's logs until it ends. It is used by one
// goroutine at a time and starts none of its own (the SDK's stream reader
// is joined through its error function before follow returns).
type jobFollower struct {
	src jobSource
	// logs receives the log lines, status the "Queued" lines.
	logs   *logRenderer
	status io.Writer
	// queuePoll is how often the job is re-read while it waits in the
	// queue, to show its position; reconnectWait spaces reconnects of a
	// broken stream.
	queuePoll     time.Duration
	reconnectWait time.Duration
}

// follow streams the job's logs until the job ends and returns its final
// state. It returns ctx's error when ctx ends first; the job goes on.
func (f *jobFollower) follow(ctx context.Context) (codersdk.ProvisionerJob, error) {
	job, err := f.src.job(ctx)
	if err != nil {
		return job, wrapAPI("get job", err)
	}
	lastPos := -1
	warned := false
	showQueue := func(j codersdk.ProvisionerJob) {
		if j.Status != codersdk.ProvisionerJobPending || j.QueuePosition == lastPos {
			return
		}
		lastPos = j.QueuePosition
		if j.QueueSize > 0 {
			fmt.Fprintf(f.status, "Queued (position %d of %d)... waiting for a provisioner daemon.\n", j.QueuePosition, j.QueueSize)
		} else {
			fmt.Fprintf(f.status, "Queued (position %d)... waiting for a provisioner daemon.\n", j.QueuePosition)
		}
		if m := j.MatchedProvisioners; m != nil && m.Available == 0 && !warned {
			warned = true
			fmt.Fprintln(f.status, noDaemonHint(j.Tags, m.Count))
		}
	}
	showQueue(job)
	var after int64
	failures := 0
	for {
		if !job.Status.Active() {
			// Print whatever the stream did not deliver, then stop.
			return job, f.drain(ctx, &after)
		}
		ch, errFn, err := f.src.logs(ctx, after, true)
		if err == nil {
			var got bool
			job, got, err = f.read(ctx, ch, errFn, &after, job, showQueue)
			if got {
				failures = 0
			}
		}
		if ctx.Err() != nil {
			return job, ctx.Err()
		}
		j, jerr := f.src.job(ctx)
		if jerr != nil {
			if ctx.Err() != nil {
				return job, ctx.Err()
			}
			return job, wrapAPI("get job", jerr)
		}
		job = j
		if !job.Status.Active() {
			continue
		}
		// The stream ended before the job: reconnect after the last line.
		failures++
		if failures > maxReconnects {
			if err == nil {
				err = errors.New("the log stream keeps closing before the job ends")
			}
			return job, wrapAPI("follow logs", err)
		}
		select {
		case <-ctx.Done():
			return job, ctx.Err()
		case <-time.After(f.reconnectWait):
		}
	}
}

// read consumes one log stream until it closes, re-reading the job on a
// ticker while it is queued. got reports whether any line arrived.
func (f *jobFollower) read(ctx context.Context, ch <-chan codersdk.ProvisionerJobLog, errFn func() error, after *int64, job codersdk.ProvisionerJob,
	showQueue func(codersdk.ProvisionerJob)) (_ codersdk.ProvisionerJob, got bool, _ error) {
	var tick <-chan time.Time
	if job.Status == codersdk.ProvisionerJobPending {
		t := time.NewTicker(f.queuePoll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				return job, got, errFn()
			}
			got = true
			tick = nil // a line means a daemon took the job
			if l.ID > *after {
				*after = l.ID
				f.logs.line(l)
			}
		case <-tick:
			j, err := f.src.job(ctx)
			if err != nil {
				continue // the stream's own end will tell
			}
			job = j
			showQueue(j)
			if j.Status != codersdk.ProvisionerJobPending {
				tick = nil
			}
		}
	}
}

// drain prints the lines logged after *after without following.
func (f *jobFollower) drain(ctx context.Context, after *int64) error {
	ch, errFn, err := f.src.logs(ctx, *after, false)
	if err != nil {
		return wrapAPI("get logs", err)
	}
	for l := range ch {
		if l.ID > *after {
			*after = l.ID
			f.logs.line(l)
		}
	}
	return wrapAPI("get logs", errFn())
}

// logRenderer prints job log lines: a header whenever the stage changes,
// and, on a terminal, the level as a colour. Not safe for concurrent use.
type logRenderer struct {
	w     io.Writer
	color bool
	stage string
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiFaint  = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
)

func (p *logRenderer) line(l codersdk.ProvisionerJobLog) {
	if l.Stage != "" && l.Stage != p.stage {
		p.stage = l.Stage
		if p.color {
			fmt.Fprintf(p.w, "%s==> %s%s\n", ansiBold, l.Stage, ansiReset)
		} else {
			fmt.Fprintf(p.w, "==> %s\n", l.Stage)
		}
	}
	out := strings.TrimRight(l.Output, "\r\n")
	if !p.color {
		fmt.Fprintln(p.w, out)
		return
	}
	var c string
	switch l.Level {
	case codersdk.ProvisionerLogLevelError:
		c = ansiRed
	case codersdk.ProvisionerLogLevelWarn:
		c = ansiYellow
	case codersdk.ProvisionerLogLevelDebug, codersdk.ProvisionerLogLevelTrace:
		c = ansiFaint
	}
	if c == "" {
		fmt.Fprintln(p.w, out)
		return
	}
	fmt.Fprintf(p.w, "%s%s%s\n", c, out, ansiReset)
}

// colorable reports whether w is a terminal that should get colours
// (NO_COLOR, https://no-color.org, turns them off).
func (r *Root) colorable(w io.Writer) bool {
	if r.Getenv != nil && r.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// errInterrupted says the user pressed Ctrl-C while a job was followed.
var errInterrupted = errors.New("interrupted")

// followJob follows a job's logs to its end, printing them to stdout. Ctrl-C
// stops following (the job goes on) and returns errInterrupted; the caller
// says what to do next.
func (r *Root) followJob(ctx context.Context, src jobSource) (codersdk.ProvisionerJob, error) {
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	f := &jobFollower{
		src:           src,
		logs:          &logRenderer{w: r.Stdout, color: r.colorable(r.Stdout)},
		status:        r.Stderr,
		queuePoll:     defaultQueuePoll,
		reconnectWait: defaultReconnectWait,
	}
	job, err := f.follow(sigCtx)
	if err != nil && sigCtx.Err() != nil && ctx.Err() == nil {
		return job, errInterrupted
	}
	return job, err
}

// interrupted ends a command after Ctrl-C with the shell's usual status,
// having printed what happens next.
func (r *Root) interrupted(format string, args ...any) error {
	fmt.Fprintf(r.Stderr, "\n"+format+"\n", args...)
	return &exitError{code: 130}
}

// noDaemonHint says why a queued job may never start: no daemon that could
// take it is connected (a tagged template with no daemon of its tags, or
// tagged daemons only for an untagged template).
func noDaemonHint(tags map[string]string, seen int) string {
	extra := map[string]string{}
	for k, v := range tags {
		if k != "scope" && k != "owner" {
			extra[k] = v
		}
	}
	need := "an untagged provisioner daemon (tagged ones run only jobs with their tags)"
	if len(extra) > 0 {
		need = "a provisioner daemon with the tags " + formatProvisionerTags(extra)
	}
	when := "None is connected"
	if seen > 0 {
		when = fmt.Sprintf("None is connected now (%d seen in the last day)", seen)
	}
	return fmt.Sprintf("Note: this job needs %s. %s; it starts when one connects ('coder provisioner list' shows the daemons).", need, when)
}
