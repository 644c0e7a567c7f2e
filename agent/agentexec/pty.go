package agentexec

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// PTY is a pseudo-terminal: the master side, plus the terminal (slave) side
// until a process is started on it.
//
// Unlike the *os.File returned by creack/pty (which is switched to blocking
// mode when its descriptor is used for ioctls), the master here is registered
// with Go's poller: Close unblocks a pending Read, and read deadlines work.
// Both matter for leak-free shutdown, because a background process that
// keeps the terminal open would otherwise pin a reader goroutine forever.
//
// Read, Write, SetReadDeadline, Resize and Close may be called from
// different goroutines. Start is called at most once, by the owner, before
// Close.
type PTY struct {
	master *os.File
	tty    *os.File // nil once Start has handed it to the process
	name   string   // path of the terminal side, e.g. /dev/pts/3
}

// OpenPTY opens a pseudo-terminal of the given size (zero means the kernel
// default). The caller must Close it.
func OpenPTY(rows, cols uint16) (*PTY, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open pty: %w", err)
	}
	if rows > 0 && cols > 0 {
		if err := pty.Setsize(tty, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
			master.Close()
			tty.Close()
			return nil, fmt.Errorf("set pty size: %w", err)
		}
	}
	// Re-open the master as a non-blocking, poller-managed file. O_NONBLOCK
	// lives on the open file description, which the duplicate shares.
	fd, err := unix.FcntlInt(master.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	master.Close()
	if err != nil {
		tty.Close()
		return nil, fmt.Errorf("dup pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		tty.Close()
		return nil, fmt.Errorf("set pty master non-blocking: %w", err)
	}
	return &PTY{master: os.NewFile(uintptr(fd), "/dev/ptmx"), tty: tty, name: tty.Name()}, nil
}

// Start starts cmd in a new session whose controlling terminal, stdin,
// stdout and stderr are this terminal; cmd's own stdio and SysProcAttr are
// replaced. The process is the leader of its own process group, so
// signalling -pid reaches everything it started in the foreground.
func (p *PTY) Start(cmd *exec.Cmd) error {
	if p.tty == nil {
		return fmt.Errorf("start on pty: already started")
	}
	tty := p.tty
	p.tty = nil
	defer tty.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	return nil
}

// Name returns the path of the terminal device the process sees (its tty).
func (p *PTY) Name() string { return p.name }

// Read reads terminal output. Once every process holding the terminal has
// exited, Read returns the remaining buffered output and then an error.
func (p *PTY) Read(b []byte) (int, error) { return p.master.Read(b) }

// Write sends input to the terminal as if typed.
func (p *PTY) Write(b []byte) (int, error) { return p.master.Write(b) }

// SetReadDeadline bounds pending and future Reads.
func (p *PTY) SetReadDeadline(t time.Time) error { return p.master.SetReadDeadline(t) }

// Close closes the terminal; pending Reads and Writes return an error.
func (p *PTY) Close() error {
	if p.tty != nil {
		p.tty.Close()
		p.tty = nil
	}
	return p.master.Close()
}

// Resize sets the terminal size, which delivers SIGWINCH to the foreground
// process group. Zero dimensions are ignored.
func (p *PTY) Resize(rows, cols uint16) error {
	if rows == 0 || cols == 0 {
		return nil
	}
	rc, err := p.master.SyscallConn()
	if err != nil {
		return fmt.Errorf("resize pty: %w", err)
	}
	var ioctlErr error
	err = rc.Control(func(fd uintptr) {
		ioctlErr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols})
	})
	if err == nil {
		err = ioctlErr
	}
	if err != nil {
		return fmt.Errorf("resize pty: %w", err)
	}
	return nil
}
