package builtinpg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func sysProcAttr(acct *account, death parentDeath) *syscall.SysProcAttr {
	sig := syscall.SIGKILL
	if death == interruptOnParentDeath {
		sig = syscall.SIGINT
	}
	// Go applies Pdeathsig after the credential change, which would
	// otherwise clear it. It fires when the thread that forked exits; the Go
	// runtime only retires threads locked by exiting goroutines.
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig, Credential: credential(acct)}
}

// inspectPID reports whether pid is a live process whose working directory
// is dataDir (the postmaster chdirs there), so a postmaster.pid naming a
// recycled PID is recognised as stale.
func inspectPID(pid int, dataDir string) pidState {
	if pid <= 0 || pid == os.Getpid() {
		return pidStale
	}
	proc := "/proc/" + strconv.Itoa(pid)
	cwd, err := os.Readlink(proc + "/cwd")
	if errors.Is(err, fs.ErrNotExist) {
		return pidStale // gone, or a zombie
	}
	if err != nil {
		// Alive but not ours to inspect: trust its name.
		comm, err := os.ReadFile(proc + "/comm")
		if err != nil {
			return pidStale
		}
		if name := strings.TrimSpace(string(comm)); name == "postgres" || name == "postmaster" {
			return pidInUse
		}
		return pidStale
	}
	want, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		want = dataDir
	}
	if cwd == want {
		return pidInUse
	}
	return pidStale
}

// waitSharedMemoryDetached waits until no process is attached to the SysV
// segment id that a previous postmaster recorded. After a postmaster is
// killed its children notice and exit within moments; postgres refuses to
// start while any remain.
func waitSharedMemoryDetached(ctx context.Context, id int) error {
	for {
		var desc unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &desc); err != nil {
			return nil // removed, or never existed
		}
		if desc.Nattch == 0 {
			return nil
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("processes of a previous PostgreSQL server still use its shared memory (id %d): stop them: %w", id, ctx.Err())
		case <-t.C:
		}
	}
}
