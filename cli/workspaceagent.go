package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opencoder/coder/agentconn"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
)

// This file holds what ssh, port-forward, ping and speedtest share: turning
// a WS[.AGENT] argument into an agent, waiting until that agent can take a
// connection (with a progress line on stderr), and joining its tailnet.

// agentPollInterval is how often the wait loop asks coderd about the agent.
const agentPollInterval = 500 * time.Millisecond

// defaultConnectTimeout bounds the wait for an agent to connect to coderd
// and answer over the tailnet (a build in progress does not count).
const defaultConnectTimeout = 10 * time.Minute

// agentTarget is the agent a WS[.AGENT] argument names.
type agentTarget struct {
	Workspace codersdk.Workspace
	Agent     codersdk.WorkspaceAgent
	// AgentName is what the user asked for ("" when the workspace's only
	// agent was picked).
	AgentName string
}

// label names the target for people: "owner/ws", or "owner/ws.agent" when
// an agent was named.
func (t agentTarget) label() string {
	l := t.Workspace.OwnerName + "/" + t.Workspace.Name
	if t.AgentName != "" {
		l += "." + t.AgentName
	}
	return l
}

// splitAgentArg reads "[owner/]workspace[.agent]". Workspace names cannot
// hold dots, so the first dot after the owner starts the agent name.
func splitAgentArg(arg string) (owner, workspace, agent string, err error) {
	owner, rest := codersdk.Me, arg
	if o, r, ok := strings.Cut(arg, "/"); ok {
		owner, rest = o, r
		if owner == "" {
			owner = codersdk.Me
		}
	}
	workspace, agent, _ = strings.Cut(rest, ".")
	if workspace == "" || strings.Contains(rest, "/") {
		return "", "", "", fmt.Errorf("%q is not a workspace: use NAME, OWNER/NAME, or either followed by .AGENT", arg)
	}
	return owner, workspace, agent, nil
}

// pickAgent chooses the agent named name (or the only one) among the
// agents of the workspace's latest build.
func pickAgent(ws codersdk.Workspace, name string) (codersdk.WorkspaceAgent, error) {
	var agents []codersdk.WorkspaceAgent
	for _, res := range ws.LatestBuild.Resources {
		agents = append(agents, res.Agents...)
	}
	label := ws.OwnerName + "/" + ws.Name
	names := make([]string, 0, len(agents))
	for _, a := range agents {
		if name != "" && strings.EqualFold(a.Name, name) {
			return a, nil
		}
		names = append(names, a.Name)
	}
	slices.Sort(names)
	switch {
	case len(agents) == 0:
		return codersdk.WorkspaceAgent{}, fmt.Errorf("workspace %s has no agent: its template defines no coder_agent", label)
	case name != "":
		return codersdk.WorkspaceAgent{}, fmt.Errorf("workspace %s has no agent %q; its agents: %s", label, name, strings.Join(names, ", "))
	case len(agents) > 1:
		return codersdk.WorkspaceAgent{}, fmt.Errorf("workspace %s has several agents (%s): pick one with %s.AGENT", label, strings.Join(names, ", "), ws.Name)
	}
	return agents[0], nil
}

// waitMode is the --wait flag: whether to wait for startup scripts.
type waitMode string

const (
	waitYes  waitMode = "yes"
	waitNo   waitMode = "no"
	waitAuto waitMode = "auto"
)

// String, Set and Type make waitMode a pflag.Value that rejects bad values.
func (m *waitMode) String() string { return string(*m) }

func (m *waitMode) Set(s string) error {
	switch v := waitMode(strings.ToLower(s)); v {
	case waitYes, waitNo, waitAuto:
		*m = v
		return nil
	}
	return fmt.Errorf("%q is not yes, no or auto", s)
}

func (m *waitMode) Type() string { return "yes|no|auto" }

// agentWait says how long and for what awaitAgent waits.
type agentWait struct {
	// Scripts is whether to wait for the startup scripts: yes waits for
	// all of them, no for none, auto only for those that block login
	// (start_blocks_login) when there are any (see lifecycleDone).
	Scripts waitMode
	// ConnectTimeout bounds the wait for the agent to connect (and, in
	// dialAgent, to answer over the tailnet); 0 waits forever.
	ConnectTimeout time.Duration
	// Progress receives the progress lines; nil is quiet.
	Progress io.Writer
}

// progress prints each distinct step once.
type progress struct {
	w    io.Writer
	last string
	// waitedForScripts is set once a wait for startup scripts was
	// announced, so their end is announced too.
	waitedForScripts bool
}

func (p *progress) step(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.w == nil || msg == p.last {
		return
	}
	p.last = msg
	fmt.Fprintln(p.w, msg)
}

// awaitAgent re-reads the workspace until its build is running and the
// chosen agent is connected and, unless told not to, has run its startup
// scripts. Errors say what the user can do (start a stopped workspace, look
// at the build logs).
func awaitAgent(ctx context.Context, client *codersdk.Client, target agentTarget, opts agentWait) (agentTarget, error) {
	p := &progress{w: opts.Progress}
	var connectDeadline time.Time // set when the build is done
	label := target.Workspace.OwnerName + "/" + target.Workspace.Name
	for first := true; ; first = false {
		if !first {
			t := time.NewTimer(agentPollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return target, ctx.Err()
			case <-t.C:
			}
			ws, err := client.Workspace(ctx, target.Workspace.ID)
			if err != nil {
				return target, wrapAPI("get workspace "+label, err)
			}
			target.Workspace = ws
		}
		b := target.Workspace.LatestBuild
		start := b.Transition == codersdk.WorkspaceTransitionStart
		switch {
		case start && (b.Status == codersdk.WorkspaceStatusPending || b.Status == codersdk.WorkspaceStatusStarting):
			p.step("Waiting for the workspace to start (build #%d is %s)...", b.BuildNumber, b.Status)
			continue
		case start && b.Status == codersdk.WorkspaceStatusRunning:
		case b.Transition == codersdk.WorkspaceTransitionStop && b.Status == codersdk.WorkspaceStatusStopped:
			return target, fmt.Errorf("workspace %s is stopped: start it with 'coder start %s'", label, target.Workspace.Name)
		case b.Transition == codersdk.WorkspaceTransitionStop && (b.Status == codersdk.WorkspaceStatusPending || b.Status == codersdk.WorkspaceStatusStopping):
			return target, fmt.Errorf("workspace %s is stopping: start it again with 'coder start %s' once it has stopped", label, target.Workspace.Name)
		case b.Transition == codersdk.WorkspaceTransitionDelete:
			return target, fmt.Errorf("workspace %s is deleted or being deleted", label)
		default: // failed, canceling, canceled
			return target, fmt.Errorf("the latest build (#%d, %s) of workspace %s is %s: 'coder logs %s' shows why; 'coder start %s' tries again",
				b.BuildNumber, b.Transition, label, b.Status, target.Workspace.Name, target.Workspace.Name)
		}
		// Agent IDs change with every build: find it again by name.
		a, err := pickAgent(target.Workspace, target.Agent.Name)
		if err != nil {
			return target, err
		}
		target.Agent = a
		if connectDeadline.IsZero() && opts.ConnectTimeout > 0 {
			connectDeadline = time.Now().Add(opts.ConnectTimeout)
		}
		switch a.Status {
		case codersdk.WorkspaceAgentConnecting:
			p.step("Waiting for the agent to connect...")
		case codersdk.WorkspaceAgentTimeout:
			p.step("The agent has not connected within its connection timeout (%ds). Still waiting; check that the workspace's machine runs the agent and reaches %s.",
				a.ConnectionTimeout, client.URL)
		case codersdk.WorkspaceAgentDisconnected:
			p.step("The agent is disconnected; waiting for it to reconnect...")
		case codersdk.WorkspaceAgentConnected:
			done, err := lifecycleDone(target, opts.Scripts, p)
			if done || err != nil {
				return target, err
			}
			continue // scripts are not bound by the connect timeout
		}
		if !connectDeadline.IsZero() && time.Now().After(connectDeadline) {
			return target, fmt.Errorf("agent %s of workspace %s is %s after %s: check that the workspace's machine is up, runs the agent and reaches %s",
				a.Name, label, a.Status, opts.ConnectTimeout, client.URL)
		}
	}
}

// lifecycleDone decides, for a connected agent, whether the wait is over.
// yes waits until the agent has run all its startup scripts (lifecycle
// ready, start_error or start_timeout); no does not wait. auto waits only
// when the agent's startup_script_behavior is blocking, and then only for
// the scripts that block login: each must have reported a start run since
// the agent started (an agent that does not report them is waited for
// until its lifecycle says the scripts are done). A failed or timed-out
// script prints a warning and the connection goes ahead.
func lifecycleDone(target agentTarget, mode waitMode, p *progress) (bool, error) {
	a := target.Agent
	label := target.label()
	if mode == waitAuto {
		switch a.StartupScriptBehavior {
		case codersdk.StartupScriptBehaviorNonBlocking:
			mode = waitNo
		case "": // a coderd from before scripts were reported: wait for all
			mode = waitYes
		}
	}
	switch a.LifecycleState {
	case codersdk.WorkspaceAgentLifecycleReady:
		scriptsDone(p, "")
		return true, nil
	case codersdk.WorkspaceAgentLifecycleCreated, codersdk.WorkspaceAgentLifecycleStarting:
		switch mode {
		case waitNo:
			p.step("Startup scripts are still running; %s may not be fully set up yet.", label)
			return true, nil
		case waitYes:
			p.waitedForScripts = true
			p.step("Running startup scripts...")
			return false, nil
		}
		pending, failed := blockingScripts(a)
		if len(pending) > 0 {
			p.waitedForScripts = true
			p.step("Waiting for startup scripts that block login: %s...", strings.Join(pending, ", "))
			return false, nil
		}
		for _, f := range failed {
			p.step("Warning: startup script %s of %s %s; the workspace may be incomplete ('coder show %s' lists the scripts, the dashboard their output).",
				f.name, label, f.outcome, target.Workspace.Name)
		}
		scriptsDone(p, " that block login")
		if slices.ContainsFunc(a.Scripts, func(s codersdk.WorkspaceAgentScript) bool { return s.RunOnStart && !s.StartBlocksLogin }) {
			p.step("Other startup scripts are still running; %s may not be fully set up yet.", label)
		}
		return true, nil
	case codersdk.WorkspaceAgentLifecycleStartError:
		p.step("Warning: a startup script of %s failed; the workspace may be incomplete ('coder logs' shows the build, the dashboard the script output).", label)
		return true, nil
	case codersdk.WorkspaceAgentLifecycleStartTimeout:
		p.step("Warning: the startup scripts of %s timed out; the workspace may be incomplete.", label)
		return true, nil
	default: // shutting down or off
		return false, fmt.Errorf("the agent of %s is %s: the workspace is stopping; start it again with 'coder start %s'",
			label, strings.ReplaceAll(string(a.LifecycleState), "_", " "), target.Workspace.Name)
	}
}

// scriptsDone announces the end of a wait for startup scripts (which is
// "" for all of them), if one was announced.
func scriptsDone(p *progress, which string) {
	if p.waitedForScripts {
		p.waitedForScripts = false
		p.step("Startup scripts%s are done.", which)
	}
}

// scriptFailure is a blocking script that finished without success, kept
// in two parts so the warning reads "startup script NAME of OWNER/WS
// failed (exit 3)".
type scriptFailure struct {
	name    string // quoted display name
	outcome string // "failed (exit 3)" or "timed out"
}

// blockingScripts names the agent's scripts that block login and have not
// finished a start run since the agent started (pending), and describes
// the finished ones that did not succeed.
func blockingScripts(a codersdk.WorkspaceAgent) (pending []string, failed []scriptFailure) {
	for _, s := range a.Scripts {
		if !s.BlocksLogin() {
			continue
		}
		name := strconv.Quote(s.DisplayName)
		r := s.LastRun
		// A run from before the agent's current start (an agent restart)
		// does not count; neither does any run while the agent has not
		// said it started.
		if r == nil || r.Stage != codersdk.AgentScriptStageStart || a.StartedAt == nil || r.StartedAt.Before(*a.StartedAt) {
			pending = append(pending, s.DisplayName)
			continue
		}
		switch r.Status {
		case codersdk.AgentScriptStatusOK, codersdk.AgentScriptStatusPipesLeftOpen:
		case codersdk.AgentScriptStatusTimedOut:
			failed = append(failed, scriptFailure{name: name, outcome: "timed out"})
		default:
			failed = append(failed, scriptFailure{name: name, outcome: fmt.Sprintf("failed (exit %d)", r.ExitCode)})
		}
	}
	return pending, failed
}

// dialOptions configure dialAgent.
type dialOptions struct {
	agentWait
	// BlockEndpoints keeps traffic on DERP.
	BlockEndpoints bool
	Logger         *slog.Logger
	// Timings marks each phase (nil: quiet); see --debug-timings.
	Timings *timings
}

// dialAgent resolves arg, waits for its agent and joins the tailnet. The
// caller closes the Conn.
func dialAgent(ctx context.Context, client *codersdk.Client, arg string, opts dialOptions) (agentTarget, *agentconn.Conn, error) {
	owner, name, agentName, err := splitAgentArg(arg)
	if err != nil {
		return agentTarget{}, nil, err
	}
	ws, err := lookupWorkspace(ctx, client, owner, name, arg)
	if err != nil {
		return agentTarget{}, nil, err
	}
	opts.Timings.mark("api: workspace looked up")
	target := agentTarget{Workspace: ws, AgentName: agentName, Agent: codersdk.WorkspaceAgent{Name: agentName}}
	if ws.LatestBuild.Status == codersdk.WorkspaceStatusRunning {
		// Fail at once on a bad agent name or an ambiguous workspace.
		if target.Agent, err = pickAgent(ws, agentName); err != nil {
			return target, nil, err
		}
	}
	target, err = awaitAgent(ctx, client, target, opts.agentWait)
	if err != nil {
		return target, nil, err
	}
	opts.Timings.mark("api: agent ready (wait done)")
	conn, err := agentconn.Dial(ctx, client, target.Agent.ID, agentconn.Options{
		Logger: opts.Logger, BlockEndpoints: opts.BlockEndpoints, Trace: opts.Timings.traceFunc(),
	})
	if err != nil {
		// coderd's own words when it refuses (a browser-only deployment
		// answers 409 with an explanation).
		return target, nil, wrapAPI("connect to "+target.label(), err)
	}
	reachCtx := ctx
	if opts.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		reachCtx, cancel = context.WithTimeout(ctx, opts.ConnectTimeout)
		defer cancel()
	}
	if !awaitReachable(reachCtx, conn, target, opts.Progress) {
		_ = conn.Close()
		if ctx.Err() != nil {
			return target, nil, ctx.Err()
		}
		return target, nil, fmt.Errorf("the agent of %s is connected to coderd but did not answer over the tailnet within %s: "+
			"there is no direct path and the relay through %s/derp did not work", target.label(), opts.ConnectTimeout, client.URL)
	}
	opts.Timings.mark("tailnet: agent reachable (disco ping answered)")
	return target, conn, nil
}

// reachNoticeAfter is how long the tailnet may take to answer before the
// user is told what the command waits for: usually it answers within a
// few hundred milliseconds.
const reachNoticeAfter = 3 * time.Second

// awaitReachable waits until the agent answers over the tailnet, saying so
// on progress (if not nil) when that takes longer than reachNoticeAfter.
func awaitReachable(ctx context.Context, conn *agentconn.Conn, target agentTarget, progress io.Writer) bool {
	if progress == nil {
		return conn.AwaitReachable(ctx)
	}
	printed := make(chan struct{})
	notice := time.AfterFunc(reachNoticeAfter, func() {
		defer close(printed)
		fmt.Fprintf(progress, "Waiting for %s to answer over the tailnet (its agent is connected to coderd)...\n", target.label())
	})
	ok := conn.AwaitReachable(ctx)
	if !notice.Stop() {
		<-printed // the notice was written before anything that follows
	}
	return ok
}

// regionNames maps DERP region IDs to "999 (coder)" style labels, from the
// map coderd hands to clients.
func regionNames(ctx context.Context, client *codersdk.Client, agent codersdk.WorkspaceAgent) map[int]string {
	out := map[int]string{}
	info, err := client.WorkspaceAgentConnectionInfo(ctx, agent.ID)
	if err != nil {
		return out
	}
	m, err := tailnet.ParseDERPMap(info.DERPMap)
	if err != nil || m == nil {
		return out
	}
	for id, r := range m.Regions {
		if r != nil && r.RegionCode != "" {
			out[id] = r.RegionCode
		}
	}
	return out
}

// describePath says how packets reach the agent, for people.
func describePath(direct bool, endpoint string, region int, names map[int]string) string {
	if direct {
		if endpoint == "" {
			return "p2p"
		}
		return "p2p via " + endpoint
	}
	if n, ok := names[region]; ok {
		return fmt.Sprintf("via DERP region %d (%s)", region, n)
	}
	return fmt.Sprintf("via DERP region %d", region)
}

// withShorthand defines flags through define (one of the flag* helpers,
// which have no shorthand parameter) and adds them to fs with a one-letter
// shorthand. Setting Shorthand after the fact would not register it.
func withShorthand(fs *pflag.FlagSet, short string, define func(*pflag.FlagSet)) {
	tmp := pflag.NewFlagSet("", pflag.ContinueOnError)
	define(tmp)
	tmp.VisitAll(func(f *pflag.Flag) {
		f.Shorthand = short
		fs.AddFlag(f)
	})
}

// agentSession is what ping, port-forward and speedtest share once they
// have checked their flags: the client, a tailnet connection to the agent,
// and a context that Ctrl-C or SIGTERM ends. close releases both.
type agentSession struct {
	ctx    context.Context
	client *codersdk.Client
	target agentTarget
	conn   *agentconn.Conn
	stop   context.CancelFunc
}

func (s *agentSession) close() {
	_ = s.conn.Close()
	s.stop()
}

// dialSession dials the agent that arg names for cmd, showing progress on
// stderr and not waiting for startup scripts; blockEndpoints keeps the
// traffic on DERP.
func (r *Root) dialSession(cmd *cobra.Command, arg string, connectTimeout time.Duration, blockEndpoints bool) (*agentSession, error) {
	client, err := r.client()
	if err != nil {
		return nil, err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	target, conn, err := dialAgent(ctx, client, arg, dialOptions{
		agentWait:      agentWait{Scripts: waitNo, ConnectTimeout: connectTimeout, Progress: r.Stderr},
		BlockEndpoints: blockEndpoints,
	})
	if err != nil {
		stop()
		return nil, err
	}
	return &agentSession{ctx: ctx, client: client, target: target, conn: conn, stop: stop}, nil
}
