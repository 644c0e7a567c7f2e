package builtinpg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opencoder/coder/backoff"
)

// Options configures Start.
type Options struct {
	// Dir holds the cluster, e.g. <config-dir>/postgres. Required; created
	// with mode 0700 if missing.
	Dir string
	// Logger receives PostgreSQL's own log, one record per line. Nil
	// discards it.
	Logger *slog.Logger
	// Port is the TCP port on 127.0.0.1. 0 picks one: the port of the last
	// run if it is still free, else any free port.
	Port int
	// Fast trades durability for speed (fsync, synchronous_commit and
	// full_page_writes off, initdb --no-sync): for tests only, a crash may
	// corrupt the cluster.
	Fast bool
}

// Server is a running built-in PostgreSQL. Stop it with Stop; if the calling
// process dies first, the server gets a parent-death signal (Linux).
type Server struct {
	// Set by Start, then read-only.
	logger   *slog.Logger
	dir      string
	port     int
	password string
	cmd      *exec.Cmd
	logs     *logWriter
	unlock   func()        // releases Dir/lock
	done     chan struct{} // closed once postgres has exited and waitErr is set
	waitErr  error         // written before done is closed, read after

	stopMu  sync.Mutex // held for the whole of Stop; guards the fields below
	stopped bool
	stopErr error
}

// Start initialises the cluster in opts.Dir on first use, then starts
// postgres and returns once it accepts connections and the `coder` database
// exists. It fails with ErrNotInstalled when PostgreSQL is missing and with
// ErrAlreadyRunning when another server uses opts.Dir. ctx bounds startup
// only, not the server's life.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("builtinpg: Options.Dir is required")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("resolve dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create dir: %w", err)
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			unlock()
		}
	}()

	dataDir := filepath.Join(dir, dataSubdir)
	initialized, err := isInitialized(dataDir)
	if err != nil {
		return nil, err
	}
	password, err := readOrCreatePassword(dir, initialized)
	if err != nil {
		return nil, err
	}
	acct, err := runAccount(dataDir)
	if err != nil {
		return nil, err
	}
	if !initialized {
		if err := initCluster(ctx, logger, binDir, dir, password, acct, opts.Fast); err != nil {
			return nil, err
		}
	}
	if err := clearStalePID(ctx, logger, dataDir); err != nil {
		return nil, err
	}

	port, auto, err := choosePort(dir, opts.Port)
	if err != nil {
		return nil, err
	}
	// An automatically chosen port may be taken between our probe and
	// postgres's bind: then try another.
	const attempts = 3
	var s *Server
	for i := 0; ; i++ {
		s, err = launch(ctx, logger, binDir, dir, password, acct, port, opts.Fast)
		if err == nil {
			break
		}
		if !auto || i+1 == attempts || portFree(port) || ctx.Err() != nil {
			return nil, err
		}
		logger.Info("port taken during startup, trying another", "port", port)
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := writeFileAtomic(filepath.Join(dir, portFile), []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
		_ = s.kill()
		return nil, fmt.Errorf("write port file: %w", err)
	}
	s.unlock = unlock
	ok = true
	logger.Info("built-in PostgreSQL ready", "dir", dir, "port", port, "run_as", acct.String())
	return s, nil
}

// launch starts postgres and waits until the `coder` database is reachable.
// On error nothing is left running.
func launch(ctx context.Context, logger *slog.Logger, binDir, dir, password string, acct *account, port int, fast bool) (*Server, error) {
	dataArg := filepath.Join(dir, dataSubdir)
	var extra []*os.File
	if acct.viaFD() {
		f, err := os.Open(dataArg)
		if err != nil {
			return nil, fmt.Errorf("open data dir: %w", err)
		}
		// The child holds its own copy after Start.
		defer f.Close()
		extra = []*os.File{f}
		dataArg = "/proc/self/fd/3"
	}
	args := []string{
		"-D", dataArg,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "logging_collector=off",
		"-c", "log_destination=stderr",
		"-c", "log_line_prefix=",
	}
	if fast {
		args = append(args,
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	}
	logs := newLogWriter(logger)
	cmd := childCommand(filepath.Join(binDir, exeName("postgres")), args, acct, interruptOnParentDeath)
	cmd.ExtraFiles = extra
	cmd.Stdout = logs
	cmd.Stderr = logs
	// Backends that outlive a killed postmaster keep stderr open; do not
	// let them hold up Wait for long.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{
		logger:   logger,
		dir:      dir,
		port:     port,
		password: password,
		cmd:      cmd,
		logs:     logs,
		unlock:   func() {},
		done:     make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.kill()
		return nil, err
	}
	return s, nil
}

// waitReady pings until postgres accepts connections, then creates the
// `coder` database if it is missing.
func (s *Server) waitReady(ctx context.Context) error {
	adminURL := buildURL(s.password, s.port, "postgres")
	// A poll of our own child rather than a retry against a server under
	// load: it starts fast (a fresh cluster accepts connections within
	// tens of milliseconds) and its cap keeps the wait after "ready" short.
	poll := backoff.New(5*time.Millisecond, 200*time.Millisecond)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, adminURL)
		cancel()
		if err == nil {
			defer conn.Close(context.WithoutCancel(ctx))
			return ensureDatabase(ctx, conn, superuser)
		}
		t := time.NewTimer(poll.Next())
		select {
		case <-s.done:
			t.Stop()
			return fmt.Errorf("postgres exited during startup (%v):\n%s", s.waitErr, s.logs.Tail())
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for postgres to accept connections: %w (last: %v)\n%s", ctx.Err(), err, s.logs.Tail())
		case <-t.C:
		}
	}
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// URL is the connection URL of the `coder` database:
// postgres://coder:<password>@127.0.0.1:<port>/coder?sslmode=disable.
func (s *Server) URL() string { return buildURL(s.password, s.port, superuser) }

// Port is the TCP port the server listens on (127.0.0.1 only).
func (s *Server) Port() int { return s.port }

// Done is closed when the postgres process exits, whether through Stop or
// not; a caller that depends on the server may watch it.
func (s *Server) Done() <-chan struct{} { return s.done }

// Stop asks postgres for a fast shutdown (SIGINT: roll back open
// transactions, checkpoint, exit) and waits. If ctx ends first it kills
// the server and returns ctx's error. Stop is idempotent and safe for
// concurrent use: later calls wait for the first and return its result.
func (s *Server) Stop(ctx context.Context) error {
	s.stopMu.Lock()
	defer s.stopMu.Unlock()
	if s.stopped {
		return s.stopErr
	}
	s.stopped = true
	defer s.unlock()

	select {
	case <-s.done:
		s.stopErr = s.exitError()
		return s.stopErr
	default:
	}
	if err := interrupt(s.cmd.Process); err != nil {
		s.logger.Warn("signal postgres", "error", err)
	}
	select {
	case <-s.done:
		s.logger.Info("built-in PostgreSQL stopped", "dir", s.dir)
	case <-ctx.Done():
		_ = s.kill()
		s.stopErr = fmt.Errorf("stop postgres: killed after %w", ctx.Err())
	}
	return s.stopErr
}

// exitError describes an exit that happened before Stop asked for one.
func (s *Server) exitError() error {
	if s.waitErr == nil {
		return nil
	}
	return fmt.Errorf("postgres had exited: %w\n%s", s.waitErr, s.logs.Tail())
}

// kill sends SIGKILL and waits for the process to be reaped.
func (s *Server) kill() error {
	err := s.cmd.Process.Kill()
	<-s.done
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// choosePort returns want if set; else the remembered port if still free;
// else a free one. auto reports whether the choice was ours to change.
func choosePort(dir string, want int) (port int, auto bool, err error) {
	if want != 0 {
		return want, false, nil
	}
	if p := readPort(dir); p != 0 && portFree(p) {
		return p, true, nil
	}
	p, err := freePort()
	return p, true, err
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
