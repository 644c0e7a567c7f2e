package reconnectingpty

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencoder/coder/agent/agentexec"
)

const (
	// queueChunks is how many output chunks may wait for one slow
	// connection before it is disconnected.
	queueChunks = 128
	// drainIdle is how long output may pause, after the process exited,
	// before the terminal stops waiting for background jobs holding it.
	drainIdle = 250 * time.Millisecond
	// defaultTerm is TERM for terminal processes (the clients are xterm.js
	// and terminal emulators).
	defaultTerm = "xterm-256color"
)

// terminal is one process on a pseudo-terminal plus its attachments.
//
// Its run goroutine (counted on the server's WaitGroup) owns the process:
// it reads output, fans it out, and tears down when the process exits or
// ctx is canceled (idle timeout, server Close).
type terminal struct {
	// Set at creation, then read-only.
	id     string
	srv    *Server
	pty    *agentexec.PTY // Write and Resize are safe from any goroutine
	proc   *agentexec.Process
	cancel context.CancelFunc // ends the process

	mu       sync.Mutex // guards the fields below
	scroll   *ring
	attached map[*attachment]struct{}
	idle     *time.Timer // pending idle kill while nothing is attached
	ended    bool        // output is over; attach must create a new terminal
}

// attachment is one connection's view of a terminal.
type attachment struct {
	conn net.Conn
	// out queues output for conn. Only the terminal sends on or closes it,
	// under terminal.mu, and closes it exactly once when removing the
	// attachment from terminal.attached.
	out chan []byte
}

// startTerminal starts the process of a new terminal. Called with s.mu held.
func (s *Server) startTerminal(init Init) (*terminal, error) {
	pty, err := agentexec.OpenPTY(init.Height, init.Width)
	if err != nil {
		return nil, err
	}
	cmd := s.command(init.Command, []string{"TERM=" + defaultTerm})
	if err := pty.Start(cmd); err != nil {
		pty.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	t := &terminal{
		id:       init.ID,
		srv:      s,
		pty:      pty,
		proc:     agentexec.NewProcess(cmd),
		cancel:   cancel,
		scroll:   newRing(s.scroll),
		attached: make(map[*attachment]struct{}),
	}
	s.logger.Debug("started terminal", "id", t.id, "pid", cmd.Process.Pid, "tty", pty.Name())
	s.wg.Add(1) // s.mu is held and !closed
	go func() {
		defer s.wg.Done()
		t.run(ctx)
	}()
	return t, nil
}

// run forwards output until the process has exited and the terminal is
// drained, then disconnects everyone and forgets the terminal.
func (t *terminal) run(ctx context.Context) {
	defer t.cancel()
	readDone := make(chan struct{})
	var exited atomic.Bool
	go func() {
		defer close(readDone)
		t.readLoop(&exited)
	}()
	err := t.proc.Wait(ctx)
	exited.Store(true)
	_ = t.pty.SetReadDeadline(time.Now().Add(drainIdle))
	select {
	case <-readDone:
	case <-ctx.Done():
		t.pty.Close()
		<-readDone
	}
	t.pty.Close()
	t.srv.logger.Debug("terminal ended", "id", t.id, "err", err)

	t.mu.Lock()
	t.ended = true
	if t.idle != nil {
		t.idle.Stop()
	}
	for a := range t.attached {
		t.removeLocked(a)
	}
	t.mu.Unlock()
	t.srv.forget(t)
}

// readLoop copies terminal output into the scrollback and the attachments'
// queues. Once exited is set, each read may wait at most drainIdle.
func (t *terminal) readLoop(exited *atomic.Bool) {
	buf := make([]byte, 32*1024)
	for {
		if exited.Load() {
			_ = t.pty.SetReadDeadline(time.Now().Add(drainIdle))
		}
		n, err := t.pty.Read(buf)
		if n > 0 {
			chunk := append([]byte(nil), buf[:n]...)
			t.mu.Lock()
			t.scroll.Write(chunk)
			for a := range t.attached {
				select {
				case a.out <- chunk:
				default:
					t.srv.logger.Info("disconnecting slow terminal client", "id", t.id, "remote", a.conn.RemoteAddr().String())
					t.removeLocked(a)
				}
			}
			t.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// attach adds conn, queueing the scrollback first, or returns nil if the
// terminal has ended.
func (t *terminal) attach(conn net.Conn) *attachment {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil
	}
	a := &attachment{conn: conn, out: make(chan []byte, queueChunks)}
	if replay := t.scroll.Bytes(); len(replay) > 0 {
		a.out <- replay
	}
	t.attached[a] = struct{}{}
	if t.idle != nil {
		t.idle.Stop()
		t.idle = nil
	}
	return a
}

// detach removes a (if still attached) and starts the idle timeout when it
// was the last one.
func (t *terminal) detach(a *attachment) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.attached[a]; ok {
		t.removeLocked(a)
	}
}

// removeLocked drops an attachment. Called with t.mu held.
func (t *terminal) removeLocked(a *attachment) {
	delete(t.attached, a)
	close(a.out)
	if len(t.attached) == 0 && !t.ended && t.idle == nil {
		t.idle = time.AfterFunc(t.srv.timeout, t.idleExpired)
	}
}

// idleExpired kills the process if still nobody is attached.
func (t *terminal) idleExpired() {
	t.mu.Lock()
	expired := len(t.attached) == 0 && t.idle != nil
	t.mu.Unlock()
	if expired {
		t.srv.logger.Debug("terminal idle timeout", "id", t.id)
		t.cancel()
	}
}

func (t *terminal) attachedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.attached)
}

// writeLoop sends queued output to the connection until the queue is
// closed, then closes the connection so its reader stops too.
func (a *attachment) writeLoop() {
	defer a.conn.Close()
	for chunk := range a.out {
		if _, err := a.conn.Write(chunk); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				a.conn.Close()
			}
			// Keep draining so the terminal never blocks on this queue.
			for range a.out {
			}
			return
		}
	}
}
