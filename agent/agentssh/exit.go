package agentssh

import (
	"errors"
	"os/exec"
	"syscall"

	gossh "golang.org/x/crypto/ssh"
)

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
