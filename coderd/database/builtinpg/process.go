package builtinpg

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
)

// account is the unprivileged user that initdb and postgres run as when we
// are root. A nil *account means "as ourselves"; every method accepts nil.
type account struct {
	name     string
	uid, gid uint32
}

// viaFD reports whether children must reach their directories through an
// inherited descriptor (/proc/self/fd/3) because Dir's ancestors may not be
// searchable by the account (see the package doc).
func (a *account) viaFD() bool { return a != nil && runtime.GOOS == "linux" }

func (a *account) String() string {
	if a == nil {
		return "current user"
	}
	return fmt.Sprintf("%s (uid %d)", a.name, a.uid)
}

// chown gives paths to the account; a no-op when running as ourselves.
func (a *account) chown(paths ...string) error {
	if a == nil {
		return nil
	}
	for _, p := range paths {
		if err := os.Lchown(p, int(a.uid), int(a.gid)); err != nil {
			return fmt.Errorf("chown %s to %s: %w", p, a, err)
		}
	}
	return nil
}

// parentDeath selects what a child receives if we die without stopping it.
type parentDeath int

const (
	// killOnParentDeath suits one-shot tools such as initdb.
	killOnParentDeath parentDeath = iota
	// interruptOnParentDeath asks postgres for a fast shutdown (checkpoint,
	// then exit), leaving a clean data directory.
	interruptOnParentDeath
)

// childCommand builds a command for a PostgreSQL program: its own process
// group (a terminal's Ctrl-C reaches us, and we stop it in order), the
// unprivileged account, a parent-death signal where the OS has one, and an
// environment without PG* overrides.
func childCommand(path string, args []string, acct *account, death parentDeath) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Env = childEnv()
	cmd.SysProcAttr = sysProcAttr(acct, death)
	if acct != nil {
		// Our working directory may be one the account cannot enter.
		cmd.Dir = "/"
	}
	return cmd
}
