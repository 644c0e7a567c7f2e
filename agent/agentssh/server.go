package agentssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent/agentexec"
)

// ErrServerClosed is returned by Serve after Close or Shutdown.
var ErrServerClosed = errors.New("agentssh: server closed")

// Options configures a Server. The zero value works.
type Options struct {
	// Logger receives connection and session events. Default: discard.
	Logger *slog.Logger
	// HostSigner is the server's host key. Default: a fresh ed25519 key
	// (clients connect with StrictHostKeyChecking=no; the tailnet, not the
	// host key, authenticates the agent).
	HostSigner gossh.Signer
	// Env returns extra environment variables for every command, called at
	// each session start (e.g. CODER=true and the manifest's variables).
	Env func() []string
	// Dir is the working directory of sessions; "~" expands to the home
	// directory, and an empty or missing directory falls back to $HOME.
	Dir string
	// Shell runs sessions. Default: the user's login shell from
	// /etc/passwd, else /bin/sh.
	Shell string
	// MOTDFile is shown to interactive logins (coder_agent motd_file): see
	// loginMOTD. Empty: none.
	MOTDFile string
}

// Server is the agent's SSH server. See the package documentation.
type Server struct {
	// Set in New, then read-only.
	logger  *slog.Logger
	srv     *ssh.Server
	shell   string
	dir     string
	envFunc func() []string
	motd    string // Options.MOTDFile

	// wg counts every goroutine the server starts: one per connection, one
	// per channel and one per remote-forward listener (and their copiers).
	// Add happens either under mu while !closing (new connections), or under
	// a live connState's mu, while that connection's own count is held, so
	// an Add never races a Wait that has seen zero.
	wg sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	closing   bool       // Shutdown or Close began: no new connections or sessions
	listeners map[net.Listener]struct{}
	conns     map[*connState]struct{}
	sessions  map[*session]string // active session channels -> type ("" until started)
	idle      chan struct{}       // closed when sessions empties during Shutdown
}

// connState is the server's record of one client connection.
type connState struct {
	netConn net.Conn

	mu       sync.Mutex // guards the fields below
	done     bool       // the connection has ended; attach no more goroutines
	forwards map[string]net.Listener
}

// trackedConn carries its connState into gliderlabs' per-connection context.
type trackedConn struct {
	net.Conn
	state *connState
}

// connStateKey is the ssh.Context key of a connection's *connState.
type connStateKey struct{}

func connStateFrom(ctx ssh.Context) *connState {
	cs, _ := ctx.Value(connStateKey{}).(*connState)
	return cs
}

// New returns a server ready to Serve.
func New(opts Options) (*Server, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	signer := opts.HostSigner
	if signer == nil {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate host key: %w", err)
		}
		signer, err = gossh.NewSignerFromKey(key)
		if err != nil {
			return nil, fmt.Errorf("host key signer: %w", err)
		}
	}
	shell := opts.Shell
	if shell == "" {
		shell = agentexec.UserShell()
	}
	s := &Server{
		logger:    logger,
		shell:     shell,
		dir:       opts.Dir,
		envFunc:   opts.Env,
		motd:      opts.MOTDFile,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*connState]struct{}),
		sessions:  make(map[*session]string),
	}
	s.srv = &ssh.Server{
		Version:     "OpenCoder-Agent",
		HostSigners: []ssh.Signer{signer},
		// Every client authentication method succeeds: only peers that the
		// tailnet already admitted can reach this listener.
		ServerConfigCallback: func(ssh.Context) *gossh.ServerConfig {
			return &gossh.ServerConfig{NoClientAuth: true}
		},
		PasswordHandler:            func(ssh.Context, string) bool { return true },
		PublicKeyHandler:           func(ssh.Context, ssh.PublicKey) bool { return true },
		KeyboardInteractiveHandler: func(ssh.Context, gossh.KeyboardInteractiveChallenge) bool { return true },
		ConnCallback: func(ctx ssh.Context, c net.Conn) net.Conn {
			if tc, ok := c.(*trackedConn); ok {
				ctx.SetValue(connStateKey{}, tc.state)
			}
			return c
		},
		ConnectionFailedCallback: func(c net.Conn, err error) {
			logger.Debug("ssh handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		},
		ChannelHandlers: map[string]ssh.ChannelHandler{
			"session":      s.handleSession,
			"direct-tcpip": s.handleDirectTCPIP,
		},
		RequestHandlers: map[string]ssh.RequestHandler{
			"tcpip-forward":        s.handleTCPIPForward,
			"cancel-tcpip-forward": s.handleCancelTCPIPForward,
		},
	}
	return s, nil
}

// HostKey returns the server's public host key.
func (s *Server) HostKey() gossh.PublicKey { return s.srv.HostSigners[0].PublicKey() }

// Serve accepts SSH connections on l until l fails or the server closes,
// then returns ErrServerClosed (after Close or Shutdown) or the accept
// error. It may be called for several listeners concurrently. l is closed
// on return.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			return fmt.Errorf("accept ssh connection: %w", err)
		}
		cs := &connState{netConn: c, forwards: make(map[string]net.Listener)}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return ErrServerClosed
		}
		s.conns[cs] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handleConn(cs)
	}
}

// handleConn runs one connection to its end and releases what it holds.
func (s *Server) handleConn(cs *connState) {
	defer s.wg.Done()
	s.srv.HandleConn(&trackedConn{Conn: cs.netConn, state: cs})
	cs.mu.Lock()
	cs.done = true
	for key, ln := range cs.forwards {
		ln.Close()
		delete(cs.forwards, key)
	}
	cs.mu.Unlock()
	s.mu.Lock()
	delete(s.conns, cs)
	s.mu.Unlock()
}

// enterConn counts a goroutine that serves connection cs, or reports false
// if cs has already ended. On true the caller must call s.wg.Done.
func (s *Server) enterConn(cs *connState) bool {
	if cs == nil {
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.done {
		return false
	}
	s.wg.Add(1)
	return true
}

// goConn runs fn in a goroutine counted as serving cs; false if cs ended.
func (s *Server) goConn(cs *connState, fn func()) bool {
	if !s.enterConn(cs) {
		return false
	}
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// addSession registers a new session channel, counted as serving cs. It
// refuses once the server is shutting down. On true the caller must call
// removeSession.
func (s *Server) addSession(cs *connState, sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || !s.enterConn(cs) {
		return false
	}
	s.sessions[sess] = ""
	return true
}

// setSessionKind records the type of a started session for Stats.
func (s *Server) setSessionKind(sess *session, kind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[sess]; ok {
		s.sessions[sess] = kind
	}
}

// removeSession forgets a session and releases its WaitGroup count.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	if len(s.sessions) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	s.wg.Done()
}

// Stats returns the number of active sessions by type (the SessionType
// constants); types with no session are absent.
func (s *Server) Stats() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	stats := make(map[string]int64)
	for _, kind := range s.sessions {
		if kind != "" {
			stats[kind]++
		}
	}
	return stats
}

// Connections returns the number of open client connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops the listeners, drops every connection (which ends their
// sessions: processes get SIGHUP, then SIGKILL after agentexec.KillGrace) and waits
// for all of the server's goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	var err error
	for l := range s.listeners {
		if cerr := l.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("close listener: %w", cerr)
		}
	}
	for cs := range s.conns {
		cs.netConn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Shutdown stops accepting connections and new sessions, waits for the
// active sessions to end on their own, then closes the server. If ctx ends
// first it returns ctx.Err() and leaves the remaining sessions running;
// call Close to end them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	var idle chan struct{}
	if len(s.sessions) > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Close()
}
