package agentssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/agent/agentexec"
)

// Session types, the keys of Server.Stats.
const (
	SessionTypeShell = "shell" // interactive shell ("ssh host")
	SessionTypeExec  = "exec"  // a command ("ssh host cmd", scp -O, rsync)
	SessionTypeSFTP  = "sftp"  // the sftp subsystem (sftp, scp, sshfs)
)

// ptyDrainIdle is how long output may pause, after a terminal session's
// process has exited, before the session stops waiting for background
// processes that still hold the terminal.
const ptyDrainIdle = 250 * time.Millisecond

// Payloads of session requests (RFC 4254 section 6).
type (
	ptyRequestMsg struct {
		Term                         string
		Columns, Rows, Width, Height uint32
		Modes                        string
	}
	windowChangeMsg struct {
		Columns, Rows, Width, Height uint32
	}
	envRequestMsg     struct{ Name, Value string }
	commandRequestMsg struct{ Command string }
	signalRequestMsg  struct{ Signal string }
	exitStatusMsg     struct{ Status uint32 }
	exitSignalMsg     struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}
)

// session is one "session" channel: a shell, a command or a subsystem.
//
// The request loop (serve) is the only goroutine that touches env, ptyReq,
// started, proc and pty until run is launched; after that run reads proc and
// pty, which are then immutable, and the loop only calls their
// goroutine-safe methods (Signal, Resize).
type session struct {
	srv    *Server
	logger *slog.Logger
	ch     gossh.Channel
	conn   *gossh.ServerConn
	ctx    context.Context    // ends when the channel or connection ends
	cancel context.CancelFunc // kills whatever the session runs

	env     []string
	ptyReq  *ptyRequestMsg
	started bool
	kind    string // one of the SessionType constants, once started
	proc    *agentexec.Process
	pty     *agentexec.PTY // terminal sessions
	motd    []byte         // shown before a login shell's output
	pipes   pipes          // other commands

	wg sync.WaitGroup // run and its I/O copiers; joined by serve
}

// handleSession is the "session" channel handler.
func (s *Server) handleSession(_ *ssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	sess := &session{srv: s, conn: conn}
	if !s.addSession(connStateFrom(ctx), sess) {
		_ = newChan.Reject(gossh.ResourceShortage, "server is shutting down")
		return
	}
	defer s.removeSession(sess) // also releases the server's WaitGroup
	ch, reqs, err := newChan.Accept()
	if err != nil {
		return
	}
	sess.ch = ch
	sess.logger = s.logger.With("remote", conn.RemoteAddr().String())
	sess.ctx, sess.cancel = context.WithCancel(ctx)
	sess.serve(reqs)
}

// serve handles the channel's requests until the channel is closed (by the
// client, or by run after the command exits), then ends the command and
// joins every goroutine the session started.
func (sess *session) serve(reqs <-chan *gossh.Request) {
	defer sess.ch.Close()
	for req := range reqs {
		ok := sess.handleRequest(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if ok && (req.Type == "shell" || req.Type == "exec" || req.Type == "subsystem") {
			// Start output only after the reply, so a client never sees the
			// exit status before the answer to its exec request.
			sess.wg.Add(1)
			go func() {
				defer sess.wg.Done()
				sess.run()
			}()
		}
	}
	sess.cancel()
	sess.wg.Wait()
}

// handleRequest applies one request and reports whether it succeeded.
func (sess *session) handleRequest(req *gossh.Request) bool {
	switch req.Type {
	case "env":
		var m envRequestMsg
		if sess.started || gossh.Unmarshal(req.Payload, &m) != nil {
			return false
		}
		sess.env = append(sess.env, m.Name+"="+m.Value)
		return true
	case "pty-req":
		var m ptyRequestMsg
		if sess.started || sess.ptyReq != nil || gossh.Unmarshal(req.Payload, &m) != nil {
			return false
		}
		sess.ptyReq = &m
		return true
	case "window-change":
		var m windowChangeMsg
		if gossh.Unmarshal(req.Payload, &m) != nil || sess.ptyReq == nil {
			return false
		}
		if sess.pty != nil {
			if err := sess.pty.Resize(clampU16(m.Rows), clampU16(m.Columns)); err != nil {
				sess.logger.Debug("resize pty", "err", err)
				return false
			}
			return true
		}
		sess.ptyReq.Columns, sess.ptyReq.Rows = m.Columns, m.Rows
		return true
	case "signal":
		var m signalRequestMsg
		if gossh.Unmarshal(req.Payload, &m) != nil || sess.proc == nil {
			return false
		}
		sig, ok := sshSignals[gossh.Signal(m.Signal)]
		if !ok {
			return false
		}
		return sess.proc.Signal(sig) == nil
	case "shell", "exec", "subsystem":
		if sess.started {
			return false
		}
		if err := sess.start(req); err != nil {
			sess.logger.Warn("start session", "type", req.Type, "err", err)
			_, _ = fmt.Fprintf(sess.ch.Stderr(), "agent: %v\r\n", err)
			return false
		}
		sess.started = true
		sess.srv.setSessionKind(sess, sess.kind)
		return true
	default:
		// Agent and X11 forwarding are not offered.
		return false
	}
}

// start launches what a shell, exec or subsystem request asks for.
func (sess *session) start(req *gossh.Request) error {
	var m commandRequestMsg
	if req.Type != "shell" {
		if err := gossh.Unmarshal(req.Payload, &m); err != nil {
			return fmt.Errorf("parse %s request: %w", req.Type, err)
		}
	}
	switch req.Type {
	case "subsystem":
		if m.Command != "sftp" {
			return fmt.Errorf("unsupported subsystem %q", m.Command)
		}
		sess.kind = SessionTypeSFTP
		return nil
	case "shell":
		sess.kind = SessionTypeShell
	default:
		sess.kind = SessionTypeExec
	}
	env := append(sess.env, sess.sshEnv()...)
	if sess.ptyReq == nil {
		return sess.startPiped(m.Command, env)
	}
	pty, err := agentexec.OpenPTY(clampU16(sess.ptyReq.Rows), clampU16(sess.ptyReq.Columns))
	if err != nil {
		return err
	}
	term := sess.ptyReq.Term
	if term == "" {
		term = "xterm-256color"
	}
	cmd := sess.srv.CreateCommand(m.Command, append(env, "TERM="+term, "SSH_TTY="+pty.Name()))
	if err := pty.Start(cmd); err != nil {
		pty.Close()
		return err
	}
	sess.pty, sess.proc = pty, agentexec.NewProcess(cmd)
	if sess.kind == SessionTypeShell {
		// A login: a terminal and no command (sshd's rule for the MOTD).
		sess.motd = sess.loginMOTD(envHome(cmd.Env))
	}
	sess.logger.Debug("started pty session", "kind", sess.kind, "pid", cmd.Process.Pid, "tty", pty.Name())
	return nil
}

// sshEnv returns the variables sshd sets to describe the connection.
func (sess *session) sshEnv() []string {
	rhost, rport, _ := net.SplitHostPort(sess.conn.RemoteAddr().String())
	lhost, lport, _ := net.SplitHostPort(sess.conn.LocalAddr().String())
	return []string{
		"SSH_CLIENT=" + rhost + " " + rport + " " + lport,
		"SSH_CONNECTION=" + rhost + " " + rport + " " + lhost + " " + lport,
	}
}

// pipes holds the parent's ends of a non-terminal command's stdio.
type pipes struct{ stdin, stdout, stderr *os.File }

// startPiped starts a command whose stdio are pipes, in its own process
// group so the whole group can be ended with the session.
func (sess *session) startPiped(script string, env []string) error {
	cmd := sess.srv.CreateCommand(script, env)
	var (
		p        pipes
		child    []*os.File
		firstErr error
	)
	mk := func(parentReads bool) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return nil
		}
		if parentReads {
			child = append(child, w)
			return r
		}
		child = append(child, r)
		return w
	}
	p.stdin, p.stdout, p.stderr = mk(false), mk(true), mk(true)
	closeAll := func(fs ...*os.File) {
		for _, f := range fs {
			if f != nil {
				f.Close()
			}
		}
	}
	if firstErr != nil {
		closeAll(child...)
		closeAll(p.stdin, p.stdout, p.stderr)
		return fmt.Errorf("create pipes: %w", firstErr)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = child[0], child[1], child[2]
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err := cmd.Start()
	closeAll(child...)
	if err != nil {
		closeAll(p.stdin, p.stdout, p.stderr)
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	sess.proc = agentexec.NewProcess(cmd)
	sess.pipes = p
	sess.logger.Debug("started session", "kind", sess.kind, "pid", cmd.Process.Pid)
	return nil
}

// run drives a started session to its end and reports how it ended.
func (sess *session) run() {
	var res exitResult
	switch {
	case sess.kind == SessionTypeSFTP:
		res = sess.runSFTP()
	case sess.pty != nil:
		res = sess.runPTY()
	default:
		res = sess.runPiped()
	}
	sess.logger.Debug("session ended", "kind", sess.kind, "status", res.status, "signal", res.signal)
	_ = sess.ch.CloseWrite()
	if res.signal != "" {
		_, _ = sess.ch.SendRequest("exit-signal", false, gossh.Marshal(exitSignalMsg{
			Signal: res.signal, CoreDumped: res.coreDumped,
		}))
	} else {
		_, _ = sess.ch.SendRequest("exit-status", false, gossh.Marshal(exitStatusMsg{Status: uint32(res.status)}))
	}
	_ = sess.ch.Close()
}

// runPiped copies stdio between the channel and the pipes. Like sshd, it
// waits for stdout and stderr to reach EOF after the process exits (so no
// output is lost), unless the session ends first.
func (sess *session) runPiped() exitResult {
	p := sess.pipes
	var out sync.WaitGroup
	out.Add(2)
	go func() {
		defer out.Done()
		_, _ = io.Copy(sess.ch, p.stdout)
	}()
	go func() {
		defer out.Done()
		_, _ = io.Copy(sess.ch.Stderr(), p.stderr)
	}()
	sess.wg.Add(1)
	go func() { // ends on client EOF, or when stdin is closed below
		defer sess.wg.Done()
		_, _ = io.Copy(p.stdin, sess.ch)
		_ = p.stdin.Close()
	}()

	err := sess.proc.Wait(sess.ctx)
	outDone := make(chan struct{})
	go func() {
		out.Wait()
		close(outDone)
	}()
	select {
	case <-outDone:
	case <-sess.ctx.Done():
		p.stdout.Close()
		p.stderr.Close()
		<-outDone
	}
	p.stdin.Close()
	p.stdout.Close()
	p.stderr.Close()
	return exitResultOf(err)
}

// runPTY copies between the channel and the terminal. After the process
// exits it keeps forwarding output until the terminal reports EOF or stays
// quiet for ptyDrainIdle (a background job may hold it open forever).
func (sess *session) runPTY() exitResult {
	pty := sess.pty
	defer pty.Close()
	if len(sess.motd) > 0 {
		// Before the first read of the terminal: the shell's output waits
		// in it, so the MOTD comes first.
		_, _ = sess.ch.Write(sess.motd)
	}
	var exited atomic.Bool
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		buf := make([]byte, 32*1024)
		for {
			if exited.Load() {
				_ = pty.SetReadDeadline(time.Now().Add(ptyDrainIdle))
			}
			n, err := pty.Read(buf)
			if n > 0 {
				if _, werr := sess.ch.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	sess.wg.Add(1)
	go func() { // ends on client EOF or when the terminal is closed
		defer sess.wg.Done()
		_, _ = io.Copy(pty, sess.ch)
	}()

	err := sess.proc.Wait(sess.ctx)
	exited.Store(true)
	_ = pty.SetReadDeadline(time.Now().Add(ptyDrainIdle))
	select {
	case <-outDone:
	case <-sess.ctx.Done():
		pty.Close()
		<-outDone
	}
	return exitResultOf(err)
}

// runSFTP serves the sftp subsystem in-process on the channel.
func (sess *session) runSFTP() exitResult {
	server, err := sftp.NewServer(sess.ch, sftp.WithServerWorkingDirectory(agentexec.WorkingDir(sess.srv.dir)))
	if err != nil {
		sess.logger.Warn("start sftp server", "err", err)
		return exitResult{status: 1}
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve() }()
	select {
	case err = <-served:
	case <-sess.ctx.Done():
		_ = server.Close()
		err = <-served
	}
	if err != nil && !errors.Is(err, io.EOF) {
		sess.logger.Debug("sftp server", "err", err)
		return exitResult{status: 1}
	}
	return exitResult{}
}

// clampU16 converts an SSH uint32 dimension to a terminal's uint16.
func clampU16(v uint32) uint16 {
	if v > 0xffff {
		return 0xffff
	}
	return uint16(v)
}
