package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opencoder/coder/agentconn"
)

// portForwardDialTimeout bounds one dial of the agent's port.
const portForwardDialTimeout = 30 * time.Second

func (r *Root) portForwardCmd() *cobra.Command {
	var (
		tcp            []string
		connectTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "port-forward WORKSPACE[.AGENT] --tcp [ADDR:]LOCAL:REMOTE...",
		Short: "Forward local TCP ports to ports inside a workspace, over the tailnet",
		Long: `Listen on local TCP ports and forward each connection to a port inside the
workspace (the agent connects to 127.0.0.1:REMOTE there). Runs until Ctrl-C.

--tcp takes PORT (the same port on both sides), LOCAL:REMOTE, ADDR:LOCAL:REMOTE
(ADDR defaults to 127.0.0.1; [::1] for IPv6) or ranges of equal length such as
8000-8009:9000-9009. LOCAL 0 picks a free port; the line "Forwarding ..." shows it.`,
		Example: "  coder port-forward dev --tcp 8080:80\n  coder port-forward dev -p 3000 -p 0.0.0.0:5432:5432",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(tcp) == 0 {
				return errors.New("nothing to forward: pass --tcp LOCAL:REMOTE (repeatable)")
			}
			var specs []forwardSpec
			for _, s := range tcp {
				parsed, err := parseForwardSpec(s)
				if err != nil {
					return err
				}
				specs = append(specs, parsed...)
			}
			sess, err := r.dialSession(cmd, args[0], connectTimeout, false)
			if err != nil {
				return err
			}
			defer sess.close()
			ctx, target, conn := sess.ctx, sess.target, sess.conn
			f := &portForwarder{conn: conn, stderr: r.Stderr, conns: map[net.Conn]struct{}{}}
			defer f.close()
			for _, s := range specs {
				addr, err := f.listen(ctx, s)
				if err != nil {
					return err
				}
				fmt.Fprintf(r.Stdout, "Forwarding %s -> %s:%d\n", addr, target.label(), s.remote)
			}
			fmt.Fprintln(r.Stderr, "Ready; press Ctrl-C to stop.")
			<-ctx.Done()
			fmt.Fprintln(r.Stderr, "Stopping port forwarding.")
			return nil
		},
	}
	fs := cmd.Flags()
	withShorthand(fs, "p", func(fs *pflag.FlagSet) {
		flagStringArray(fs, r.Getenv, &tcp, "tcp", "CODER_PORT_FORWARD_TCP", "Forward [ADDR:]LOCAL:REMOTE (repeatable; see above).")
	})
	flagDuration(fs, r.Getenv, &connectTimeout, "connect-timeout", "CODER_SSH_CONNECT_TIMEOUT", defaultConnectTimeout,
		"How long to wait for the agent to connect and answer over the tailnet (0: forever).")
	return cmd
}

// forwardSpec is one local listener and the workspace port it reaches.
type forwardSpec struct {
	listen string // host:port
	remote uint16
}

// parseForwardSpec reads one --tcp value (see the command's help).
func parseForwardSpec(s string) ([]forwardSpec, error) {
	bad := func(why string) ([]forwardSpec, error) {
		return nil, fmt.Errorf("--tcp %q: %s (want PORT, LOCAL:REMOTE or ADDR:LOCAL:REMOTE)", s, why)
	}
	host, local, remote := "127.0.0.1", s, s
	if i := strings.LastIndex(s, ":"); i >= 0 {
		local, remote = s[:i], s[i+1:]
		if strings.Contains(local, ":") {
			h, p, err := net.SplitHostPort(local)
			if err != nil {
				return bad("bad listen address")
			}
			host, local = h, p
		}
	}
	lFrom, lTo, err := parsePortRange(local, true)
	if err != nil {
		return bad("local " + err.Error())
	}
	rFrom, rTo, err := parsePortRange(remote, false)
	if err != nil {
		return bad("remote " + err.Error())
	}
	if lTo-lFrom != rTo-rFrom {
		return bad("the local and remote ranges differ in length")
	}
	if lFrom == 0 && rTo != rFrom {
		return bad("a range cannot use local port 0")
	}
	out := make([]forwardSpec, 0, rTo-rFrom+1)
	for i := 0; i <= int(rTo-rFrom); i++ {
		port := 0
		if lFrom != 0 {
			port = int(lFrom) + i
		}
		out = append(out, forwardSpec{listen: net.JoinHostPort(host, strconv.Itoa(port)), remote: rFrom + uint16(i)})
	}
	return out, nil
}

// parsePortRange reads PORT or FROM-TO.
func parsePortRange(s string, allowZero bool) (from, to uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if !isRange {
		b = a
	}
	lowest := 1
	if allowZero && !isRange {
		lowest = 0
	}
	parse := func(v string) (uint16, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < lowest || n > 65535 {
			return 0, fmt.Errorf("port %q is not a number from %d to 65535", v, lowest)
		}
		return uint16(n), nil
	}
	if from, err = parse(a); err != nil {
		return 0, 0, err
	}
	if to, err = parse(b); err != nil {
		return 0, 0, err
	}
	if to < from {
		return 0, 0, fmt.Errorf("range %q ends before it starts", s)
	}
	return from, to, nil
}

// portForwarder runs the listeners and the connections they accept.
//
// Concurrency: listen and close are called from one goroutine; accept
// loops and connection handlers are started by listen, tracked by wg, and
// have all returned when close returns.
type portForwarder struct {
	// Set at construction.
	conn   *agentconn.Conn
	stderr io.Writer

	wg sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	listeners []net.Listener
	conns     map[net.Conn]struct{} // open local and tailnet conns
	closed    bool
}

// listen opens s's listener and serves it until close; it returns the
// address it listens on.
func (f *portForwarder) listen(ctx context.Context, s forwardSpec) (string, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", s.listen)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", s.listen, err)
	}
	f.mu.Lock()
	f.listeners = append(f.listeners, l)
	f.mu.Unlock()
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed by close
			}
			if !f.track(c) {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.forward(ctx, c, s.remote)
			}()
		}
	}()
	return l.Addr().String(), nil
}

// track registers c so close can end it; false (and c closed) once closing.
func (f *portForwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		_ = c.Close()
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *portForwarder) untrack(c net.Conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
	_ = c.Close()
}

// forward dials the agent's port and copies both ways until both sides
// are done.
func (f *portForwarder) forward(ctx context.Context, local net.Conn, port uint16) {
	defer f.untrack(local)
	dialCtx, cancel := context.WithTimeout(ctx, portForwardDialTimeout)
	remote, err := f.conn.DialPort(dialCtx, port)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintf(f.stderr, "Connection from %s: could not reach port %d in the workspace: %v\n", local.RemoteAddr(), port, err)
		}
		return
	}
	if !f.track(remote) {
		return
	}
	defer f.untrack(remote)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		f.pipe(ctx, remote, local, port, "to")
	}()
	go func() {
		defer wg.Done()
		f.pipe(ctx, local, remote, port, "from")
	}()
	wg.Wait()
}

// pipe copies src to dst until src ends. A clean end (EOF) is passed on
// as a half-close; a broken one ends dst at once (a reset where dst is a
// local TCP connection) and is reported, so a program behind the local
// port never mistakes a failure for a short answer.
func (f *portForwarder) pipe(ctx context.Context, dst, src net.Conn, port uint16, dir string) {
	_, err := io.Copy(dst, src)
	if err == nil {
		closeWrite(dst)
		return
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = dst.Close()
	// The local program going away (a reset or a closed pipe from this
	// machine's kernel) is its own choice, not worth a line.
	local := errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
	if ctx.Err() == nil && !local && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(f.stderr, "Connection %s port %d in the workspace broke: %v\n", dir, port, err)
	}
}

// close stops the listeners, ends open connections and waits for every
// goroutine. Idempotent.
func (f *portForwarder) close() {
	f.mu.Lock()
	f.closed = true
	for _, l := range f.listeners {
		_ = l.Close()
	}
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
