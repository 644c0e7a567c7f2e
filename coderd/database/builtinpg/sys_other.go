//go:build !unix

package builtinpg

import (
	"context"
	"os"
	"syscall"
)

// On systems without flock, setuid or /proc (Windows) the built-in server
// runs as the current user and a second server on the same directory is left
// to postgres's own postmaster.pid check.

func lockDir(string) (func(), error) { return func() {}, nil }

func runAccount(string) (*account, error) { return nil, nil }

func interrupt(p *os.Process) error { return p.Kill() }

func sysProcAttr(*account, parentDeath) *syscall.SysProcAttr { return nil }

func inspectPID(int, string) pidState { return pidUnknown }

func waitSharedMemoryDetached(context.Context, int) error { return nil }
