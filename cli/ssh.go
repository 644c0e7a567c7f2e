package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// sshOptions are the flags of `coder ssh`.
type sshOptions struct {
	stdio          bool
	quiet          bool
	wait           waitMode
	connectTimeout time.Duration
	env            []string
	debugTimings   bool
}

func (r *Root) sshCmd() *cobra.Command {
	o := sshOptions{wait: waitAuto}
	cmd := &cobra.Command{
		Use:   "ssh WORKSPACE[.AGENT] [-- COMMAND [ARG...]]",
		Short: "Open a shell in a workspace, or run a command there, over the tailnet",
		Long: `Open an interactive shell in a workspace (with a terminal when stdin is one),
or run COMMAND there with stdin, stdout and stderr wired; the command's exit
status becomes this one's.

WORKSPACE is NAME (yours) or OWNER/NAME; add .AGENT when the workspace has
several agents. The command waits for the workspace's build, for its agent to
connect and (see --wait) for its startup scripts, showing progress on stderr.

A single COMMAND argument is a shell command line ('ls | wc -l'); several
arguments are run as exactly that argument list (each is quoted for the
remote shell), so 'coder ssh ws -- sh -c "exit 7"' exits 7.

--stdio connects stdin/stdout to the agent's SSH server, for OpenSSH's
ProxyCommand ('coder config-ssh' writes such entries).`,
		Example: "  coder ssh dev\n  coder ssh alice/dev.main -- make test\n  ssh -o ProxyCommand='coder ssh --stdio dev' coder.dev",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.stdio && len(args) > 1 {
				return errors.New("--stdio takes no command: the SSH client on the other end sends it")
			}
			envs, err := parseEnvFlags(o.env)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			tm := newTimings(ctx, o.debugTimings, r.Stderr)
			client, err := r.client()
			if err != nil {
				return err
			}
			tm.mark("config read")
			var progress io.Writer = r.Stderr
			if o.quiet {
				progress = nil
			}
			target, conn, err := dialAgent(ctx, client, args[0], dialOptions{
				agentWait: agentWait{Scripts: o.wait, ConnectTimeout: o.connectTimeout, Progress: progress},
				Timings:   tm,
			})
			if err != nil {
				return err
			}
			defer func() {
				_ = conn.Close()
				tm.mark("tailnet: closed")
			}()
			nc, err := conn.SSH(ctx)
			if err != nil {
				return fmt.Errorf("open ssh connection to %s: %w", target.label(), err)
			}
			tm.mark("ssh: TCP connected over the tailnet")
			defer nc.Close()
			if o.stdio {
				return r.proxyStdio(ctx, nc)
			}
			err = r.runSSHSession(ctx, nc, target, remoteCommand(args[1:]), envs, tm)
			tm.mark("ssh: command exited")
			return err
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&o.stdio, "stdio", false, "Connect stdin and stdout to the agent's SSH server (for OpenSSH's ProxyCommand).")
	withShorthand(fs, "q", func(fs *pflag.FlagSet) {
		flagBool(fs, r.Getenv, &o.quiet, "quiet", "CODER_SSH_QUIET", false, "Print no progress while waiting for the workspace.")
	})
	if v := getenvOr(r.Getenv, "CODER_SSH_WAIT"); v != "" {
		_ = o.wait.Set(v) // a bad value is ignored: the default stays
	}
	fs.Var(&o.wait, "wait", envUsage("Wait for the startup scripts before connecting: yes (all of them), no, or auto: only for\nthe scripts that block login (coder_script start_blocks_login, or startup_script_behavior\n\"blocking\"), naming them; with none, connect at once. Failed or timed-out scripts print a\nwarning and the connection goes ahead.", "CODER_SSH_WAIT"))
	flagDuration(fs, r.Getenv, &o.connectTimeout, "connect-timeout", "CODER_SSH_CONNECT_TIMEOUT", defaultConnectTimeout,
		"How long to wait for the agent to connect and answer over the tailnet (0: forever). A build in progress or\nrunning startup scripts do not count.")
	withShorthand(fs, "e", func(fs *pflag.FlagSet) {
		flagStringArray(fs, r.Getenv, &o.env, "env", "CODER_SSH_ENV", "Set an environment variable K=V in the remote session (repeatable).")
	})
	// Hidden (a diagnostic, documented in docs/cli.md and
	// docs/benchmarks.md): where the time of a connection goes.
	flagBool(fs, r.Getenv, &o.debugTimings, "debug-timings", "CODER_DEBUG_TIMINGS", false,
		"Print each phase of the connection (API calls, tailnet, SSH) to stderr with its offset from the start of the process.")
	_ = fs.MarkHidden("debug-timings")
	return cmd
}

// parseEnvFlags checks each -e K=V.
func parseEnvFlags(list []string) ([][2]string, error) {
	out := make([][2]string, 0, len(list))
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// shellSafe matches words a POSIX shell reads literally.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remoteCommand turns the arguments after WORKSPACE into the command line
// the agent's shell runs: one argument is a command line as typed, several
// are an argument list (see the command's help).
func remoteCommand(args []string) string {
	switch len(args) {
	case 0:
		return ""
	case 1:
		return args[0]
	}
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = shellQuote(a)
	}
	return strings.Join(quoted, " ")
}

// proxyStdio copies the raw SSH connection to stdin/stdout until the agent
// closes it (the SSH client on stdin ending the session) or ctx ends.
//
// The stdin copier may stay blocked in a read after the function returns
// (a blocking read on a pipe cannot be interrupted); it ends when stdin
// does, or with the process, which exits right after.
func (r *Root) proxyStdio(ctx context.Context, nc net.Conn) error {
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	go func() {
		_, _ = io.Copy(nc, r.Stdin)
		closeWrite(nc)
	}()
	_, err := io.Copy(r.Stdout, nc)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("relay ssh connection: %w", err)
	}
	return nil
}

// closeWrite half-closes c when it can, so the peer sees EOF.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// terminalFd returns the descriptor of v when it is a terminal.
func terminalFd(v any) (int, bool) {
	f, ok := v.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0, false
	}
	return int(f.Fd()), true
}

// runSSHSession runs a shell (command == "") or a command on the agent's
// SSH server over nc, with a pseudo-terminal when stdin and stdout are
// terminals, and returns an *exitError carrying a non-zero remote status.
func (r *Root) runSSHSession(ctx context.Context, nc net.Conn, target agentTarget, command string, envs [][2]string, tm *timings) error {
	// Closing nc unblocks the handshake and the session when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	// The tailnet already authenticates the agent (its WireGuard key comes
	// from coderd's coordinator), so the SSH host key adds nothing; the
	// agent accepts any user and "none" authentication from the tailnet.
	sshConn, chans, reqs, err := gossh.NewClientConn(nc, target.Agent.ID.String(), &gossh.ClientConfig{
		User:            target.Workspace.OwnerName,
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), //nolint:gosec // see above
	})
	if err != nil {
		return fmt.Errorf("ssh handshake with %s: %w", target.label(), err)
	}
	tm.mark("ssh: handshake done")
	sc := gossh.NewClient(sshConn, chans, reqs)
	defer sc.Close()
	sess, err := sc.NewSession()
	if err != nil {
		return fmt.Errorf("open ssh session on %s: %w", target.label(), err)
	}
	defer sess.Close()
	for _, kv := range envs {
		if err := sess.Setenv(kv[0], kv[1]); err != nil {
			return fmt.Errorf("set %s in the remote session: %w", kv[0], err)
		}
	}
	sess.Stdin, sess.Stdout, sess.Stderr = r.Stdin, r.Stdout, r.Stderr

	inFd, inTTY := terminalFd(r.Stdin)
	outFd, outTTY := terminalFd(r.Stdout)
	if inTTY && outTTY {
		restore, err := r.startPTY(ctx, sess, inFd, outFd)
		if err != nil {
			return err
		}
		defer restore()
	}
	what := "command"
	if command == "" {
		what = "shell"
		err = sess.Shell()
	} else {
		err = sess.Start(command)
	}
	if err != nil {
		return fmt.Errorf("start the remote %s on %s: %w", what, target.label(), err)
	}
	tm.mark("ssh: session started")
	err = sess.Wait()
	var exit *gossh.ExitError
	var missing *gossh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit):
		return &exitError{code: exit.ExitStatus()}
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &missing):
		return fmt.Errorf("the connection to %s closed before the remote command reported its exit status", target.label())
	default:
		return fmt.Errorf("ssh session on %s: %w", target.label(), err)
	}
}

// startPTY asks for a pseudo-terminal sized like ours, puts the local
// terminal in raw mode and forwards window size changes until restore.
func (r *Root) startPTY(ctx context.Context, sess *gossh.Session, inFd, outFd int) (restore func(), err error) {
	w, h, err := term.GetSize(outFd)
	if err != nil {
		w, h = 80, 24
	}
	termName := getenvOr(r.Getenv, "TERM")
	if termName == "" {
		termName = "xterm-256color"
	}
	modes := gossh.TerminalModes{gossh.ECHO: 1, gossh.TTY_OP_ISPEED: 14400, gossh.TTY_OP_OSPEED: 14400}
	if err := sess.RequestPty(termName, h, w, modes); err != nil {
		return nil, fmt.Errorf("request a remote terminal: %w", err)
	}
	state, err := term.MakeRaw(inFd)
	if err != nil {
		return nil, fmt.Errorf("put the terminal in raw mode: %w", err)
	}
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				if w, h, err := term.GetSize(outFd); err == nil {
					_ = sess.WindowChange(h, w)
				}
			}
		}
	}()
	return func() {
		signal.Stop(winch)
		cancel()
		<-done
		_ = term.Restore(inFd, state)
	}, nil
}
