//go:build unix && !linux

package builtinpg

import (
	"context"
	"errors"
	"os"
	"syscall"
)

func sysProcAttr(acct *account, _ parentDeath) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: credential(acct)}
}

// inspectPID reports whether pid is alive; without /proc we cannot tell
// which directory it serves, so a live PID counts as a running server.
func inspectPID(pid int, _ string) pidState {
	if pid <= 0 || pid == os.Getpid() {
		return pidStale
	}
	err := syscall.Kill(pid, 0)
	if err == nil || errors.Is(err, syscall.EPERM) {
		return pidInUse
	}
	return pidStale
}

// waitSharedMemoryDetached is a no-op here: postgres reports a segment still
// in use itself.
func waitSharedMemoryDetached(context.Context, int) error { return nil }
