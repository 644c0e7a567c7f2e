package agentexec

import (
	"context"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// KillGrace is how long a process group gets between SIGHUP (its session
// or terminal ended) and SIGKILL.
const KillGrace = 2 * time.Second

// Process is a started command whose process group can be ended when the
// session (or terminal) that owns it goes away.
//
// Signal and Wait may be called from different goroutines; Wait is called
// exactly once, by the owner.
type Process struct {
	cmd *exec.Cmd

	mu     sync.Mutex
	exited bool // Wait has returned; the pid may be reused, never signal it
}

// NewProcess wraps a started command. The command must lead its own process
// group (Setpgid or Setsid), as PTY.Start and SSH's piped sessions arrange.
func NewProcess(cmd *exec.Cmd) *Process { return &Process{cmd: cmd} }

// Pid returns the process id (and process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal delivers sig to the process itself (an SSH "signal" request). It
// is a no-op once the process has been reaped.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return nil
	}
	return p.cmd.Process.Signal(sig)
}

// signalGroup delivers sig to the whole process group while the leader is
// still running.
func (p *Process) signalGroup(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.exited {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Wait waits for the process to exit. If ctx ends first, the process group
// gets SIGHUP and, KillGrace later, SIGKILL; Wait still returns only once
// the process has been reaped, so no goroutine or zombie outlives it.
func (p *Process) Wait(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }() // joined below in every path
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		p.signalGroup(syscall.SIGHUP)
		t := time.NewTimer(KillGrace)
		select {
		case err = <-done:
		case <-t.C:
			p.signalGroup(syscall.SIGKILL)
			err = <-done
		}
		t.Stop()
	}
	p.mu.Lock()
	p.exited = true
	p.mu.Unlock()
	return err
}
