// Package agent is the workspace agent: it runs inside every workspace,
// authenticates to coderd with its agent token, runs the template's startup
// scripts (their output streamed to coderd through a bounded queue: while
// coderd is down the oldest lines give way to a counted marker line),
// reports its lifecycle, and serves SSH, a reconnecting terminal and a speed
// test on the tailnet (ports in package agentconn).
//
// House rules: user processes never depend on coderd being reachable; the
// agent keeps serving and reconnects with backoff, and a coderd restart
// never restarts a user's shell. Every goroutine is started by Run and has
// ended when Run returns.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/agent/reconnectingpty"
	"github.com/opencoder/coder/agent/speedtest"
	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/backoff"
	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
)

// Options configure an Agent.
type Options struct {
	// Client talks to coderd with the agent token as its session token.
	Client *codersdk.Client
	Logger *slog.Logger
	// StartupTimeout bounds the run-on-start scripts marked to block
	// login; past it the lifecycle is start_timeout. Default 30 minutes.
	StartupTimeout time.Duration
	// ShutdownTimeout bounds the run-on-stop scripts. Default 5 minutes.
	ShutdownTimeout time.Duration
	// ReportInterval for listening ports; stats use the server's interval.
	ReportInterval time.Duration
	// CoderBinary is what `coder` runs in the workspace's sessions and
	// scripts (coderpath.go). Default: the agent's own binary.
	CoderBinary string

	// testHookConn, when set, runs right after the tailnet node starts; an
	// error fails startServices there (tests of the error path).
	testHookConn func(*tailnet.Conn) error
}

// Agent is a running workspace agent.
type Agent struct {
	opts Options
	log  *slog.Logger

	// Set once the manifest is known, by Run's goroutine.
	manifest codersdk.AgentManifest
	binDir   string // first on every session's PATH, holds `coder`
	// gitSSHCommand is every session's GIT_SSH_COMMAND (the owner's git
	// SSH key) once gitSSHKeyLoop installed it.
	gitSSHCommand atomic.Pointer[string]
	// scriptResults carries how each script run ended to coderd
	// (scriptreport.go); set by Run before any script runs.
	scriptResults *scriptResults
	conn          *tailnet.Conn
	ssh           *agentssh.Server
	rpty          *reconnectingpty.Server
	// stopServing ends the services' context (the speed test's Serve);
	// serving joins every Serve goroutine. Both are owned by Run:
	// startServices adds, closeServices cancels and waits.
	stopServing context.CancelFunc
	serving     sync.WaitGroup

	// serving ends with Run's context or closeServices; after that
	// listener-closed errors are expected.
	servingCtx  context.Context
	serveMu     sync.Mutex // guards serveFailed
	serveFailed []error    // Serve errors that were not part of shutdown

	mu        sync.Mutex // guards lifecycle and pending
	lifecycle codersdk.WorkspaceAgentLifecycle
	pending   []codersdk.PostLifecycleRequest // reported in order by lifecycleLoop
	wakeLC    chan struct{}
}

// New returns an agent; Run starts it.
func New(opts Options) *Agent {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.StartupTimeout == 0 {
		opts.StartupTimeout = 30 * time.Minute
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 5 * time.Minute
	}
	if opts.ReportInterval == 0 {
		opts.ReportInterval = 10 * time.Second
	}
	return &Agent{opts: opts, log: opts.Logger, lifecycle: codersdk.WorkspaceAgentLifecycleCreated, wakeLC: make(chan struct{}, 1)}
}

// Run runs the agent until ctx ends (SIGTERM in `coder agent`), then shuts
// down: run-on-stop scripts, lifecycle off, servers closed.
func (a *Agent) Run(ctx context.Context) (err error) {
	// A 401 is retried too: the container may start while its build is
	// still being recorded, before coderd knows the new agent token.
	m, err := retryAll(ctx, a.log, "fetch manifest", func() (codersdk.AgentManifest, error) {
		return a.opts.Client.AgentManifest(ctx)
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before coderd answered
		}
		return err
	}
	a.manifest = m
	a.log.Info("manifest received", "agent", m.AgentName, "workspace", m.WorkspaceName, "owner", m.OwnerUsername)
	// User processes inherit the agent's environment: never the token.
	_ = os.Unsetenv(tokenEnv)
	if bin, remove, err := installCoderShim(a.opts.CoderBinary); err != nil {
		a.log.Warn("coder will not be on the PATH of sessions", "error", err)
	} else {
		a.binDir = bin
		defer remove()
	}
	dir := expandDir(m.Directory)

	if err := a.startServices(ctx, dir); err != nil {
		// Close what did start (the tailnet node, servers, their Serve
		// goroutines) before saying why.
		return errors.Join(err, a.closeServices())
	}
	defer func() { err = errors.Join(err, a.closeServices()) }()

	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	goLoop := func(fn func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(runCtx) }()
	}
	// Script results, like lifecycle states, outlive ctx: the stop
	// scripts' results are sent during shutdown. The flush is bounded and
	// runs beside the lifecycle's; the last defer joins the loop.
	a.scriptResults = newScriptResults(a.log, a.opts.Client.PostAgentScriptCompleted)
	srCtx, srCancel := context.WithCancel(context.WithoutCancel(ctx))
	srDone := make(chan struct{})
	go func() { defer close(srDone); a.scriptResults.run(srCtx) }()
	defer func() { <-srDone }()
	lcCtx, lcCancel := context.WithCancel(context.WithoutCancel(ctx))
	lcDone := make(chan struct{})
	go func() { defer close(lcDone); a.lifecycleLoop(lcCtx) }()
	defer func() {
		// Give the final states a bounded chance to reach coderd.
		t := time.AfterFunc(10*time.Second, lcCancel)
		defer t.Stop()
		a.mu.Lock()
		a.pending = append(a.pending, codersdk.PostLifecycleRequest{}) // sentinel: stop when reached
		a.mu.Unlock()
		a.kickLifecycle()
		<-lcDone
		lcCancel()
	}()
	defer func() {
		go func() {
			defer srCancel()
			fctx, cancel := context.WithTimeout(srCtx, 10*time.Second)
			defer cancel()
			if err := a.scriptResults.flush(fctx); err != nil {
				a.log.Warn("could not report every script result", "unsent", a.scriptResults.len(), "error", err)
			}
		}()
	}()
	goLoop(a.coordinateLoop)
	goLoop(a.statsLoop)
	goLoop(a.portsLoop)
	goLoop(a.appHealthLoop)                                    // apps' health checks (apphealth.go)
	goLoop(a.metadataLoop)                                     // coder_agent metadata scripts (metadata.go)
	goLoop(func(ctx context.Context) { a.cronLoop(ctx, dir) }) // coder_script cron schedules (scriptcron.go)
	goLoop(a.gitSSHKeyLoop)                                    // the owner's git SSH key for sessions (gitssh.go)

	_, _ = retry(ctx, a.log, "report startup", func() (struct{}, error) {
		return struct{}{}, a.opts.Client.PostStartup(ctx, codersdk.PostStartupRequest{Version: buildinfo.Version(), ExpandedDirectory: dir, Subsystems: []string{}})
	})
	a.setLifecycle(ctx, codersdk.WorkspaceAgentLifecycleStarting)
	state := a.runScripts(ctx, dir, true, a.opts.StartupTimeout)
	if ctx.Err() == nil {
		a.setLifecycle(ctx, state)
	}

	<-ctx.Done()
	// Shut down with a fresh context: the parent is done.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ShutdownTimeout+10*time.Second)
	defer scancel()
	a.setLifecycle(sctx, codersdk.WorkspaceAgentLifecycleShuttingDown)
	final := a.runScripts(sctx, dir, false, a.opts.ShutdownTimeout)
	switch final {
	case codersdk.WorkspaceAgentLifecycleStartError:
		final = codersdk.WorkspaceAgentLifecycleShutdownError
	case codersdk.WorkspaceAgentLifecycleStartTimeout:
		final = codersdk.WorkspaceAgentLifecycleShutdownTimeout
	default:
		final = codersdk.WorkspaceAgentLifecycleOff
	}
	a.setLifecycle(sctx, final)
	return nil
}

// Lifecycle returns the last state reported.
func (a *Agent) Lifecycle() codersdk.WorkspaceAgentLifecycle {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lifecycle
}

// setLifecycle records a state; lifecycleLoop reports it, in order, with
// retries, so a slow or restarting coderd never holds up the scripts.
func (a *Agent) setLifecycle(_ context.Context, s codersdk.WorkspaceAgentLifecycle) {
	a.mu.Lock()
	a.lifecycle = s
	a.pending = append(a.pending, codersdk.PostLifecycleRequest{State: s, ChangedAt: time.Now()})
	a.mu.Unlock()
	a.log.Info("lifecycle", "state", s)
	a.kickLifecycle()
}

func (a *Agent) kickLifecycle() {
	select {
	case a.wakeLC <- struct{}{}:
	default:
	}
}

// lifecycleLoop reports pending states until it reaches the empty sentinel
// or ctx ends.
func (a *Agent) lifecycleLoop(ctx context.Context) {
	for {
		a.mu.Lock()
		var next *codersdk.PostLifecycleRequest
		if len(a.pending) > 0 {
			next = &a.pending[0]
		}
		a.mu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case <-a.wakeLC:
			}
			continue
		}
		if next.State == "" {
			return
		}
		req := *next
		if _, err := retry(ctx, a.log, "report lifecycle", func() (struct{}, error) {
			return struct{}{}, a.opts.Client.PostLifecycle(ctx, req)
		}); err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("could not report lifecycle; skipping", "state", req.State, "error", err)
		}
		a.mu.Lock()
		a.pending = a.pending[1:]
		a.mu.Unlock()
	}
}

// startServices starts the tailnet node and the servers on it. On an error
// the caller must still call closeServices, which closes whatever started.
func (a *Agent) startServices(ctx context.Context, dir string) error {
	a.servingCtx, a.stopServing = context.WithCancel(ctx)
	ctx = a.servingCtx
	tailnet.ConfigureDERPScheme(a.opts.Client.URL)
	derpMap, err := tailnet.ParseDERPMap(a.manifest.DERPMap)
	if err != nil {
		return fmt.Errorf("parse derp map: %w", err)
	}
	conn, err := tailnet.NewConn(&tailnet.Options{
		ID: a.manifest.AgentID, Addresses: []netip.Prefix{tailnet.AgentPrefix(a.manifest.AgentID)}, DERPMap: derpMap,
		BlockEndpoints: a.manifest.DisableDirectConnections, DERPForceWebSockets: a.manifest.DERPForceWebSockets,
		Logger: a.log.With("component", "tailnet"), ForwardUnclaimedTCP: true,
	})
	if err != nil {
		return fmt.Errorf("start tailnet: %w", err)
	}
	a.conn = conn
	if a.opts.testHookConn != nil {
		if err := a.opts.testHookConn(conn); err != nil {
			return err
		}
	}
	// Per session: what the agent learns later (the git SSH key) reaches
	// sessions started after it.
	a.ssh, err = agentssh.New(agentssh.Options{Logger: a.log.With("component", "ssh"), Env: a.commandEnv, Dir: dir, MOTDFile: a.manifest.MOTDFile})
	if err != nil {
		return fmt.Errorf("start ssh server: %w", err)
	}
	a.rpty = reconnectingpty.New(reconnectingpty.Options{Logger: a.log.With("component", "rpty"), Command: a.ssh.CreateCommand})
	for _, port := range []int{agentconn.SSHPort, agentconn.SSHPortStandard} {
		l, err := conn.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return fmt.Errorf("listen on tailnet port %d: %w", port, err)
		}
		a.goServe("ssh", func() error { return a.ssh.Serve(l) })
	}
	rl, err := conn.Listen("tcp", fmt.Sprintf(":%d", agentconn.ReconnectingPTYPort))
	if err != nil {
		return fmt.Errorf("listen for terminals: %w", err)
	}
	a.goServe("reconnecting pty", func() error { return a.rpty.Serve(ctx, rl) })
	sl, err := conn.Listen("tcp", fmt.Sprintf(":%d", agentconn.SpeedtestPort))
	if err != nil {
		return fmt.Errorf("listen for speed tests: %w", err)
	}
	a.goServe("speed test", func() error { return speedtest.Serve(ctx, sl) })
	return nil
}

// goServe runs one server's Serve loop, joined by closeServices. A Serve
// that returns before shutdown (Run's context ending or closeServices), or
// with anything but the listener-closed error during it, is logged and
// reported by closeServices.
func (a *Agent) goServe(what string, serve func() error) {
	a.serving.Add(1)
	go func() {
		defer a.serving.Done()
		err := serve()
		if a.servingCtx.Err() != nil && isServeClosed(err) {
			a.log.Debug("server stopped", "server", what)
			return
		}
		if err == nil {
			err = errors.New("stopped serving")
		}
		a.log.Error("server failed; the workspace no longer offers it", "server", what, "error", err)
		a.serveMu.Lock()
		defer a.serveMu.Unlock()
		a.serveFailed = append(a.serveFailed, fmt.Errorf("serve %s: %w", what, err))
	}()
}

// isServeClosed reports whether a Serve error is the one a server returns
// when it, its listener or its context is closed by closeServices.
func isServeClosed(err error) bool {
	return errors.Is(err, agentssh.ErrServerClosed) || errors.Is(err, reconnectingpty.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, net.ErrClosed) || errors.Is(err, tailnet.ErrClosed)
}

// closeServices closes what startServices started, in reverse order, and
// waits for every Serve goroutine. It returns the Serve failures that were
// not part of this shutdown.
func (a *Agent) closeServices() error {
	if a.stopServing != nil {
		a.stopServing()
	}
	if a.ssh != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = a.ssh.Shutdown(sctx)
		cancel()
		_ = a.ssh.Close()
	}
	if a.rpty != nil {
		_ = a.rpty.Close()
	}
	if a.conn != nil {
		_ = a.conn.Close()
	}
	a.serving.Wait()
	a.serveMu.Lock()
	defer a.serveMu.Unlock()
	return errors.Join(a.serveFailed...)
}

// coordinateLoop keeps the agent registered with the coordinator,
// reconnecting with backoff; the tailnet node itself (and every open SSH
// session) lives on across reconnects.
func (a *Agent) coordinateLoop(ctx context.Context) {
	bo := backoff.New(time.Second, 30*time.Second)
	for ctx.Err() == nil {
		start := time.Now()
		ws, err := a.opts.Client.DialAgentCoordinator(ctx)
		if err == nil {
			a.log.Info("connected to coordinator")
			err = tailnet.Coordinate(ctx, ws, a.conn, nil)
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			bo.Reset() // it was a working connection, not a failing dial
		}
		d := bo.Next()
		a.log.Warn("coordination lost; reconnecting", "error", err, "in", d)
		sleep(ctx, d)
	}
}

func (a *Agent) statsLoop(ctx context.Context) {
	interval := 30 * time.Second
	for {
		if !sleep(ctx, interval) {
			return
		}
		resp, err := a.opts.Client.PostStats(ctx, codersdk.AgentStats{SessionCountByType: a.ssh.Stats()})
		if err == nil && resp.ReportIntervalSeconds > 0 {
			interval = time.Duration(resp.ReportIntervalSeconds) * time.Second
		}
	}
}

func (a *Agent) portsLoop(ctx context.Context) {
	var last string
	for {
		ports, err := listeningPorts()
		if err == nil {
			key := fmt.Sprint(ports)
			if key != last {
				if err := a.opts.Client.PostListeningPorts(ctx, codersdk.ListeningPortsResponse{Ports: ports}); err == nil {
					last = key
				}
			}
		}
		if !sleep(ctx, a.opts.ReportInterval) {
			return
		}
	}
}

// retry calls fn with exponential backoff until it succeeds, ctx ends, or
// the error is a 4xx other than 408/429 (which retrying cannot fix).
func retry[T any](ctx context.Context, log *slog.Logger, what string, fn func() (T, error)) (T, error) {
	return retryIf(ctx, log, what, fn, func(err error) bool {
		var apiErr *codersdk.Error
		return !(errors.As(err, &apiErr) && apiErr.StatusCode() >= 400 && apiErr.StatusCode() < 500 && apiErr.StatusCode() != 408 && apiErr.StatusCode() != 429)
	})
}

// retryAll retries every error until ctx ends.
func retryAll[T any](ctx context.Context, log *slog.Logger, what string, fn func() (T, error)) (T, error) {
	return retryIf(ctx, log, what, fn, func(error) bool { return true })
}

func retryIf[T any](ctx context.Context, log *slog.Logger, what string, fn func() (T, error), retryable func(error) bool) (T, error) {
	bo := backoff.New(250*time.Millisecond, 10*time.Second)
	for attempt := 1; ; attempt++ {
		v, err := fn()
		if err == nil {
			return v, nil
		}
		if !retryable(err) {
			return v, fmt.Errorf("%s: %w", what, err)
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn(what+" failed; retrying", "attempt", attempt, "error", err)
		}
		if !bo.Wait(ctx) {
			return v, fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

// sleep waits d or until ctx ends; it reports whether the wait completed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func expandDir(dir string) string {
	home, _ := os.UserHomeDir()
	switch {
	case dir == "" || dir == "~":
		return home
	case len(dir) > 1 && dir[:2] == "~/":
		return home + dir[1:]
	}
	return os.ExpandEnv(dir)
}
