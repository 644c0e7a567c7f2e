package agent

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// runScripts runs the run-on-start (start=true) or run-on-stop scripts in
// parallel, streaming their output to coderd, and returns the lifecycle
// state they lead to: ready, start_error or start_timeout.
func (a *Agent) runScripts(ctx context.Context, dir string, start bool, timeout time.Duration) codersdk.WorkspaceAgentLifecycle {
	var scripts []codersdk.ProvisionerScript
	for _, s := range a.manifest.Scripts {
		if (start && s.RunOnStart) || (!start && s.RunOnStop) {
			scripts = append(scripts, s)
		}
	}
	if len(scripts) == 0 {
		return codersdk.WorkspaceAgentLifecycleReady
	}
	logs := newLogSender(a.opts.Client, a.log)
	defer logs.close(ctx)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failed   bool
		timedOut bool
	)
	for _, s := range scripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := timeout
			if s.TimeoutSeconds > 0 {
				t = time.Duration(s.TimeoutSeconds) * time.Second
			}
			err := a.runScript(ctx, dir, s, t, logs)
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

func (a *Agent) runScript(ctx context.Context, dir string, s codersdk.ProvisionerScript, timeout time.Duration, logs *logSender) error {
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
	err := cmd.Run()
	_ = pw.Close()
	<-done
	if ctx.Err() == context.DeadlineExceeded {
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

// logSender batches script output to coderd every 250 ms (or 100 lines).
type logSender struct {
	client *codersdk.Client
	log    interface{ Warn(string, ...any) }

	mu      sync.Mutex // guards pending, full
	pending []codersdk.AgentLog
	full    bool // coderd said the agent's log budget is spent
	wake    chan struct{}
	done    chan struct{}
	stop    chan struct{}
}

func newLogSender(c *codersdk.Client, log interface{ Warn(string, ...any) }) *logSender {
	s := &logSender{client: c, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{})}
	go s.run()
	return s
}

func (s *logSender) add(l codersdk.AgentLog) {
	s.mu.Lock()
	if !s.full {
		s.pending = append(s.pending, l)
	}
	n := len(s.pending)
	s.mu.Unlock()
	if n >= 100 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *logSender) run() {
	defer close(s.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			s.flush(context.Background())
			return
		case <-t.C:
		case <-s.wake:
		}
		s.flush(context.Background())
	}
}

func (s *logSender) flush(ctx context.Context) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), 1000)
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.client.PatchLogs(ctx, codersdk.PatchLogsRequest{Logs: batch[:n]})
		cancel()
		if codersdk.IsStatus(err, 413) {
			s.mu.Lock()
			s.full = true
			s.pending = nil
			s.mu.Unlock()
			s.log.Warn("startup log limit reached; further script output is not sent")
			return
		}
		if err != nil {
			s.log.Warn("send script logs", "error", err)
			// Keep the lines for the next tick.
			s.mu.Lock()
			s.pending = append(batch, s.pending...)
			s.mu.Unlock()
			return
		}
		batch = batch[n:]
	}
}

// close flushes what is left and stops the sender.
func (s *logSender) close(_ context.Context) {
	close(s.stop)
	<-s.done
}
