package agent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/logbatch"
)

// runScripts runs the run-on-start (start=true) or run-on-stop scripts in
// parallel, streaming their output to coderd and reporting how each run
// ended, and returns the lifecycle state they lead to: ready, start_error
// or start_timeout.
func (a *Agent) runScripts(ctx context.Context, dir string, start bool, timeout time.Duration) codersdk.WorkspaceAgentLifecycle {
	stage := codersdk.AgentScriptStageStop
	if start {
		stage = codersdk.AgentScriptStageStart
	}
	var indexes []int
	for i, s := range a.manifest.Scripts {
		if (start && s.RunOnStart) || (!start && s.RunOnStop) {
			indexes = append(indexes, i)
		}
	}
	if len(indexes) == 0 {
		return codersdk.WorkspaceAgentLifecycleReady
	}
	logs := newScriptLogs(patchLogs(a.opts.Client), a.log, scriptLogPending)
	defer func() {
		// The last lines matter most when the scripts were stopped, so
		// the flush gets its own bounded context.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scriptLogFlush)
		defer cancel()
		if err := logs.close(fctx); err != nil {
			a.log.Warn("could not send the last script output", "error", err)
		}
	}()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failed   bool
		timedOut bool
	)
	for _, i := range indexes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := timeout
			if s := a.manifest.Scripts[i]; s.TimeoutSeconds > 0 {
				t = time.Duration(s.TimeoutSeconds) * time.Second
			}
			err := a.runScript(ctx, dir, i, stage, t, logs)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				timedOut = true
			case err != nil:
				failed = true
			}
		}()
	}
	wg.Wait()
	switch {
	case timedOut:
		return codersdk.WorkspaceAgentLifecycleStartTimeout
	case failed:
		return codersdk.WorkspaceAgentLifecycleStartError
	}
	return codersdk.WorkspaceAgentLifecycleReady
}

// runScript runs the manifest's script i once, within timeout, its output
// in logs, and records how the run ended for coderd (scriptreport.go). It
// returns nil when the script exited 0, context.DeadlineExceeded when it
// timed out, else the error.
func (a *Agent) runScript(ctx context.Context, dir string, i int, stage codersdk.AgentScriptStage, timeout time.Duration, logs *scriptLogs) error {
	s := a.manifest.Scripts[i]
	name := s.DisplayName
	if name == "" {
		name = "Script"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.Script)
	cmd.Dir = dir
	if _, err := os.Stat(dir); err != nil {
		cmd.Dir = ""
	}
	cmd.Env = append(os.Environ(), a.commandEnv()...)
	cmd.WaitDelay = 5 * time.Second
	setProcessGroup(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var logFile *os.File
	if s.LogPath != "" {
		if f, err := os.OpenFile(expandDir(s.LogPath), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			logFile = f
			defer f.Close()
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if logFile != nil {
				_, _ = logFile.WriteString(line + "\n")
			}
			logs.add(codersdk.AgentLog{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelInfo, Output: line, Source: name})
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	a.log.Info("running script", "script", name)
	started := time.Now()
	err := cmd.Run()
	ended := time.Now()
	_ = pw.Close()
	<-done
	timedOut := ctx.Err() == context.DeadlineExceeded
	status, code := classifyRun(err, timedOut)
	if a.scriptResults != nil {
		a.scriptResults.record(codersdk.PostAgentScriptCompletedRequest{ScriptIndex: i, DisplayName: s.DisplayName, Stage: stage,
			StartedAt: started, EndedAt: ended, ExitCode: code, Status: status})
	}
	if timedOut {
		logs.add(codersdk.AgentLog{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelError, Output: name + " timed out after " + timeout.String(), Source: name})
		return context.DeadlineExceeded
	}
	if err != nil {
		logs.add(codersdk.AgentLog{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelError, Output: name + " failed: " + err.Error(), Source: name})
		a.log.Warn("script failed", "script", name, "error", err)
		return err
	}
	return nil
}

// classifyRun says how a run ended, from cmd.Run's error: its status and
// exit code (-1 when the script did not exit on its own: killed, timed
// out, or never started).
func classifyRun(err error, timedOut bool) (codersdk.AgentScriptStatus, int32) {
	code := int32(-1)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = int32(exitErr.ExitCode())
	}
	switch {
	case timedOut:
		return codersdk.AgentScriptStatusTimedOut, code
	case err == nil:
		return codersdk.AgentScriptStatusOK, 0
	case errors.Is(err, exec.ErrWaitDelay):
		// It exited 0; a background child kept its output open.
		return codersdk.AgentScriptStatusPipesLeftOpen, 0
	}
	return codersdk.AgentScriptStatusExitFailure, code
}

// Script-log queue settings: lines wait at most scriptLogInterval, and a
// batch of scriptLogBatch lines goes at once. While coderd is unreachable
// at most scriptLogPending lines are held; the oldest give way, and a
// counted marker line stands for them.
const (
	scriptLogInterval = 250 * time.Millisecond
	scriptLogBatch    = 100
	scriptLogPending  = 10_000
	// scriptLogFlush bounds the final flush of a script run's logs.
	scriptLogFlush = 10 * time.Second
)

// scriptLogs streams script output to coderd through a bounded queue.
type scriptLogs struct {
	b  *logbatch.Batcher[codersdk.AgentLog]
	wg sync.WaitGroup // joins the batcher's goroutine
}

// newScriptLogs starts the queue; close stops it. maxPending is the most
// lines held while coderd is unreachable.
func newScriptLogs(send func(context.Context, []codersdk.AgentLog) error, log *slog.Logger, maxPending int) *scriptLogs {
	s := &scriptLogs{b: logbatch.New(logbatch.Options[codersdk.AgentLog]{
		Send:       send,
		Classify:   classifyScriptLogs(log),
		Marker:     scriptLogsDropped,
		Interval:   scriptLogInterval,
		MaxBatch:   scriptLogBatch,
		MaxPending: maxPending,
		Overflow:   logbatch.DropOldest,
		Logger:     log,
	})}
	// The batcher's context is its own: close, not the scripts' context,
	// decides how long the last lines may take.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.b.Run(context.Background())
	}()
	return s
}

// patchLogs is the queue's Send for a real coderd.
func patchLogs(c *codersdk.Client) func(context.Context, []codersdk.AgentLog) error {
	return func(ctx context.Context, logs []codersdk.AgentLog) error {
		if err := c.PatchLogs(ctx, codersdk.PatchLogsRequest{Logs: logs}); err != nil {
			return fmt.Errorf("send script logs: %w", err)
		}
		return nil
	}
}

// classifyScriptLogs retries every failure except coderd saying the
// agent's log budget is spent (413), after which nothing more is sent.
func classifyScriptLogs(log *slog.Logger) func(error) logbatch.Outcome {
	return func(err error) logbatch.Outcome {
		if codersdk.IsStatus(err, http.StatusRequestEntityTooLarge) {
			log.Warn("startup log limit reached; further script output is not sent")
			return logbatch.Stop
		}
		log.Warn("send script logs", "error", err)
		return logbatch.Retry
	}
}

// scriptLogsDropped is the line that stands for the n lines before next
// that were dropped while coderd was unreachable.
func scriptLogsDropped(n int, next codersdk.AgentLog) codersdk.AgentLog {
	return codersdk.AgentLog{
		CreatedAt: next.CreatedAt,
		Level:     codersdk.ProvisionerLogLevelWarn,
		Output:    fmt.Sprintf("[%d log lines dropped: coderd was unreachable and the agent's buffer was full]", n),
		Source:    next.Source,
	}
}

func (s *scriptLogs) add(l codersdk.AgentLog) { s.b.Add(l) }

// close sends what is left, then stops the queue. If ctx ends first it
// returns an error wrapping ctx.Err() and the remaining lines are dropped.
func (s *scriptLogs) close(ctx context.Context) error {
	err := s.b.Flush(ctx)
	s.b.Stop()
	s.wg.Wait()
	if err != nil && s.b.Err() != nil {
		return nil // coderd refused more lines; already logged
	}
	return err
}
