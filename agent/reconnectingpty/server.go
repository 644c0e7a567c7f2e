package reconnectingpty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"time"

	"github.com/opencoder/coder/agent/agentexec"
)

// Defaults for Options.
const (
	DefaultTimeout        = 5 * time.Minute
	DefaultScrollbackSize = 64 * 1024
)

// ErrClosed is returned by Serve and Handle once the server is closed.
var ErrClosed = errors.New("reconnectingpty: server closed")

// Options configures a Server. The zero value works.
type Options struct {
	// Logger receives terminal events. Default: discard.
	Logger *slog.Logger
	// Timeout is how long a terminal with no attached connection lives.
	// Default: DefaultTimeout.
	Timeout time.Duration
	// ScrollbackSize is how much recent output is replayed on attach.
	// Default: DefaultScrollbackSize.
	ScrollbackSize int
	// Command builds the (unstarted) process of a new terminal: script is
	// the init message's command ("" for a login shell), env is appended to
	// the environment. The agent passes agentssh.Server.CreateCommand so
	// terminals get the same shell, directory and environment as SSH.
	// Default: the user's shell, in the current directory.
	Command func(script string, env []string) *exec.Cmd
}

// Stats counts what the server is serving.
type Stats struct {
	Terminals   int // running terminal processes
	Connections int // attached connections
}

// Server keeps terminals by id and attaches connections to them.
type Server struct {
	// Set in New, then read-only.
	logger  *slog.Logger
	timeout time.Duration
	scroll  int
	command func(script string, env []string) *exec.Cmd
	ctx     context.Context // parent of every terminal, Serve and Handle; canceled by Close
	cancel  context.CancelFunc

	// wg counts terminal goroutines and in-flight Handle calls. Add happens
	// under mu while !closed, before Close's Wait.
	wg sync.WaitGroup

	mu        sync.Mutex // guards the fields below; taken before terminal.mu
	closed    bool
	terminals map[string]*terminal
}

// initTimeout bounds how long a new connection may take to send Init.
const initTimeout = 30 * time.Second

// New returns a server ready to Handle connections.
func New(opts Options) *Server {
	s := &Server{
		logger:    opts.Logger,
		timeout:   opts.Timeout,
		scroll:    opts.ScrollbackSize,
		command:   opts.Command,
		terminals: make(map[string]*terminal),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.scroll <= 0 {
		s.scroll = DefaultScrollbackSize
	}
	if s.command == nil {
		s.command = defaultCommand
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// defaultCommand runs script with the user's shell, or a login shell.
func defaultCommand(script string, env []string) *exec.Cmd {
	cmd := agentexec.ShellCommand(agentexec.UserShell(), script)
	cmd.Env = append(cmd.Environ(), env...)
	return cmd
}

// Serve handles every connection accepted on l, each in its own goroutine,
// until l fails, ctx ends or the server is closed. l is closed on return.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	defer l.Close()
	if s.isClosed() {
		return ErrClosed
	}
	ctx, cancel := s.untilClosed(ctx)
	defer cancel()
	defer context.AfterFunc(ctx, func() { _ = l.Close() })()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("accept reconnecting pty connection: %w", err)
		}
		conns.Add(1)
		go func() {
			defer conns.Done()
			if err := s.Handle(ctx, c); err != nil {
				s.logger.Debug("reconnecting pty connection", "remote", c.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// untilClosed returns a context that also ends when the server closes:
// Close ends every Serve and Handle through it.
func (s *Server) untilClosed(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Handle serves one connection (see the package documentation for the
// protocol) until the client detaches, the terminal's process exits, ctx
// ends or the server closes. It always closes conn.
func (s *Server) Handle(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	ctx, cancel := s.untilClosed(ctx)
	defer cancel()
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })()

	_ = conn.SetReadDeadline(time.Now().Add(initTimeout))
	init, err := ReadInit(conn)
	if err != nil {
		return err
	}
	_ = conn.SetReadDeadline(time.Time{})
	t, a, err := s.attach(init, conn)
	if err != nil {
		return err
	}
	logger := s.logger.With("id", init.ID, "remote", conn.RemoteAddr().String())
	logger.Debug("attached")

	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		a.writeLoop()
	}()
	dec := json.NewDecoder(conn)
	for {
		var msg ClientMessage
		if err := dec.Decode(&msg); err != nil {
			break // detached, dropped, or the terminal ended and closed conn
		}
		if msg.Height > 0 && msg.Width > 0 {
			if err := t.pty.Resize(msg.Height, msg.Width); err != nil {
				logger.Debug("resize", "err", err)
			}
		}
		if msg.Data != "" {
			if _, err := t.pty.Write([]byte(msg.Data)); err != nil {
				break
			}
		}
	}
	t.detach(a)
	writer.Wait()
	logger.Debug("detached")
	return nil
}

// attach returns the terminal named by init (creating it if there is none,
// or if the old one has ended) with conn attached to it.
func (s *Server) attach(init Init, conn net.Conn) (*terminal, *attachment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	if t := s.terminals[init.ID]; t != nil {
		if a := t.attach(conn); a != nil {
			_ = t.pty.Resize(init.Height, init.Width)
			return t, a, nil
		}
	}
	t, err := s.startTerminal(init)
	if err != nil {
		return nil, nil, err
	}
	s.terminals[init.ID] = t
	return t, t.attach(conn), nil
}

// forget removes an ended terminal from the index.
func (s *Server) forget(t *terminal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.terminals[t.id] == t {
		delete(s.terminals, t.id)
	}
}

// Stats reports the running terminals and attached connections.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Terminals: len(s.terminals)}
	for _, t := range s.terminals {
		st.Connections += t.attachedCount()
	}
	return st
}

// Close stops the listeners, kills every terminal (SIGHUP, then SIGKILL
// after agentexec.KillGrace), which disconnects their clients, and waits for
// all goroutines and Handle calls. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel() // closes the listeners and connections, ends the terminals
	s.wg.Wait()
	return nil
}
