package builtinpg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrAlreadyRunning reports that another server (or another process running
// this package) already uses the directory.
var ErrAlreadyRunning = errors.New("another PostgreSQL server already uses this directory")

// pidState is what we could learn about the PID in a postmaster.pid.
type pidState int

const (
	// pidUnknown: this OS gives no way to tell; leave the file to postgres.
	pidUnknown pidState = iota
	// pidStale: no live postmaster of this data directory has that PID.
	pidStale
	// pidInUse: a live postmaster serves this data directory.
	pidInUse
)

// postmaster.pid lines (PostgreSQL 10+), counted from 0.
const (
	pidLinePID    = 0
	pidLineShmem  = 6 // "<key> <id>" of the SysV interlock segment
	pidLineStatus = 7 // starting | stopping | ready | standby
)

// clearStalePID removes a postmaster.pid left by a server that died without
// cleaning up (crash, kill -9, power loss), once no process of it remains.
// PostgreSQL handles a dead PID itself, but not one recycled by an unrelated
// process, common in containers where PIDs restart low. A server that is
// shutting down is waited for (bounded by ctx); a running one is an
// ErrAlreadyRunning.
func clearStalePID(ctx context.Context, logger *slog.Logger, dataDir string) error {
	path := filepath.Join(dataDir, "postmaster.pid")
	for {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read postmaster.pid: %w", err)
		}
		lines := strings.Split(string(b), "\n")
		pid, _ := strconv.Atoi(strings.TrimSpace(lines[pidLinePID]))
		if pid < 0 {
			pid = -pid // single-user mode writes the negated PID
		}
		switch inspectPID(pid, dataDir) {
		case pidUnknown:
			return nil
		case pidInUse:
			if pidLine(lines, pidLineStatus) != "stopping" {
				return fmt.Errorf("%w: postgres (pid %d) is running on %s; stop it first", ErrAlreadyRunning, pid, dataDir)
			}
			// A previous server is finishing its shutdown (say, its
			// parent just died): wait for it rather than fail.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w: postgres (pid %d) on %s is still shutting down: %w", ErrAlreadyRunning, pid, dataDir, ctx.Err())
			case <-t.C:
			}
			continue
		case pidStale:
		}
		if f := strings.Fields(pidLine(lines, pidLineShmem)); len(f) == 2 {
			if id, err := strconv.Atoi(f[1]); err == nil {
				if err := waitSharedMemoryDetached(ctx, id); err != nil {
					return err
				}
			}
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale postmaster.pid: %w", err)
		}
		logger.Warn("removed stale postmaster.pid left by a previous PostgreSQL run", "pid", pid, "data_dir", dataDir)
		return nil
	}
}

func pidLine(lines []string, i int) string {
	if i >= len(lines) {
		return ""
	}
	return strings.TrimSpace(lines[i])
}
