package agentssh

import (
	"context"
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// KillGrace is how long a process group gets between SIGHUP (its session
// ended) and SIGKILL.
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
// group (Setpgid or Setsid), as PTY.Start and the session runner arrange.
func NewProcess(cmd *exec.Cmd) *Process { return &Process{cmd: cmd} }

// Pid returns the process id (and process group id).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal delivers sig to the process itself, as an SSH "signal" request
// asks. It is a no-op once the process has been reaped.
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

// exitResult is how a session's command ended, in SSH terms.
type exitResult struct {
	status     int    // exit status when signal is empty
	signal     string // SSH signal name ("TERM") when killed by a signal
	coreDumped bool
}

// exitResultOf turns exec's Wait error into an exit status or signal.
func exitResultOf(err error) exitResult {
	if err == nil {
		return exitResult{}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return exitResult{status: 255}
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok {
		return exitResult{status: ee.ExitCode()}
	}
	if ws.Signaled() {
		name, ok := sshSignalNames[ws.Signal()]
		if !ok {
			// Not representable in SSH; report it the way shells do.
			return exitResult{status: 128 + int(ws.Signal())}
		}
		return exitResult{signal: name, coreDumped: ws.CoreDump()}
	}
	return exitResult{status: ws.ExitStatus()}
}

// sshSignals maps RFC 4254 signal names to Unix signals.
var sshSignals = map[gossh.Signal]syscall.Signal{
	gossh.SIGABRT: syscall.SIGABRT,
	gossh.SIGALRM: syscall.SIGALRM,
	gossh.SIGFPE:  syscall.SIGFPE,
	gossh.SIGHUP:  syscall.SIGHUP,
	gossh.SIGILL:  syscall.SIGILL,
	gossh.SIGINT:  syscall.SIGINT,
	gossh.SIGKILL: syscall.SIGKILL,
	gossh.SIGPIPE: syscall.SIGPIPE,
	gossh.SIGQUIT: syscall.SIGQUIT,
	gossh.SIGSEGV: syscall.SIGSEGV,
	gossh.SIGTERM: syscall.SIGTERM,
	gossh.SIGUSR1: syscall.SIGUSR1,
	gossh.SIGUSR2: syscall.SIGUSR2,
}

// sshSignalNames is the inverse of sshSignals.
var sshSignalNames = func() map[syscall.Signal]string {
	m := make(map[syscall.Signal]string, len(sshSignals))
	for name, sig := range sshSignals {
		m[sig] = string(name)
	}
	return m
}()
