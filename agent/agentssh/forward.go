package agentssh

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// forwardDialTimeout bounds connecting to a local port forwarding target.
const forwardDialTimeout = 30 * time.Second

// Payloads of port forwarding messages (RFC 4254 section 7).
type (
	directTCPIPMsg struct {
		DestAddr   string
		DestPort   uint32
		OriginAddr string
		OriginPort uint32
	}
	tcpipForwardMsg struct {
		BindAddr string
		BindPort uint32
	}
	tcpipForwardReplyMsg struct{ BindPort uint32 }
	forwardedTCPIPMsg    struct {
		DestAddr   string
		DestPort   uint32
		OriginAddr string
		OriginPort uint32
	}
)

// handleDirectTCPIP serves local port forwarding (ssh -L): it dials the
// requested address from inside the workspace and joins it to the channel.
func (s *Server) handleDirectTCPIP(_ *ssh.Server, _ *gossh.ServerConn, newChan gossh.NewChannel, ctx ssh.Context) {
	if !s.enterConn(connStateFrom(ctx)) {
		_ = newChan.Reject(gossh.ResourceShortage, "connection closing")
		return
	}
	defer s.wg.Done()
	var m directTCPIPMsg
	if err := gossh.Unmarshal(newChan.ExtraData(), &m); err != nil {
		_ = newChan.Reject(gossh.ConnectionFailed, "parse direct-tcpip request: "+err.Error())
		return
	}
	addr := net.JoinHostPort(m.DestAddr, strconv.FormatUint(uint64(m.DestPort), 10))
	dialCtx, cancel := context.WithTimeout(ctx, forwardDialTimeout)
	var d net.Dialer
	c, err := d.DialContext(dialCtx, "tcp", addr)
	cancel()
	if err != nil {
		_ = newChan.Reject(gossh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := newChan.Accept()
	if err != nil {
		c.Close()
		return
	}
	s.logger.Debug("local forward", "addr", addr)
	proxy(ch, reqs, c)
}

// handleTCPIPForward serves remote port forwarding (ssh -R): it listens
// inside the workspace and opens a forwarded-tcpip channel to the client
// for each connection. The listener lives until cancelled or until the
// connection ends.
func (s *Server) handleTCPIPForward(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
	cs := connStateFrom(ctx)
	conn, _ := ctx.Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	var m tcpipForwardMsg
	if cs == nil || conn == nil || gossh.Unmarshal(req.Payload, &m) != nil || m.BindPort > 0xffff {
		return false, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(m.BindAddr, strconv.FormatUint(uint64(m.BindPort), 10)))
	if err != nil {
		s.logger.Debug("remote forward listen", "addr", m.BindAddr, "port", m.BindPort, "err", err)
		return false, nil
	}
	port := uint32(ln.Addr().(*net.TCPAddr).Port)
	key := forwardKey(m.BindAddr, port)

	cs.mu.Lock()
	if cs.done || cs.forwards[key] != nil {
		cs.mu.Unlock()
		ln.Close()
		return false, nil
	}
	cs.forwards[key] = ln
	s.wg.Add(1) // safe: cs is live, so its connection's count is held
	cs.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.acceptForwarded(cs, conn, ln, m.BindAddr, port)
		cs.mu.Lock()
		if cs.forwards[key] == ln {
			delete(cs.forwards, key)
		}
		cs.mu.Unlock()
	}()
	s.logger.Debug("remote forward", "addr", m.BindAddr, "port", port)
	if m.BindPort == 0 {
		return true, gossh.Marshal(tcpipForwardReplyMsg{BindPort: port})
	}
	return true, nil
}

// handleCancelTCPIPForward stops a remote forward's listener.
func (s *Server) handleCancelTCPIPForward(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
	cs := connStateFrom(ctx)
	var m tcpipForwardMsg
	if cs == nil || gossh.Unmarshal(req.Payload, &m) != nil {
		return false, nil
	}
	key := forwardKey(m.BindAddr, m.BindPort)
	cs.mu.Lock()
	ln := cs.forwards[key]
	delete(cs.forwards, key)
	cs.mu.Unlock()
	if ln == nil {
		return false, nil
	}
	ln.Close()
	return true, nil
}

func forwardKey(host string, port uint32) string {
	return net.JoinHostPort(host, strconv.FormatUint(uint64(port), 10))
}

// acceptForwarded accepts on a remote forward's listener until it closes.
func (s *Server) acceptForwarded(cs *connState, conn *gossh.ServerConn, ln net.Listener, bindAddr string, port uint32) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		origin, _ := c.RemoteAddr().(*net.TCPAddr)
		payload := forwardedTCPIPMsg{DestAddr: bindAddr, DestPort: port}
		if origin != nil {
			payload.OriginAddr, payload.OriginPort = origin.IP.String(), uint32(origin.Port)
		}
		started := s.goConn(cs, func() {
			ch, reqs, err := conn.OpenChannel("forwarded-tcpip", gossh.Marshal(payload))
			if err != nil {
				c.Close()
				return
			}
			proxy(ch, reqs, c)
		})
		if !started {
			c.Close()
			return
		}
	}
}

// proxy joins an SSH channel and a network connection, passing half-closes
// through in both directions, and returns once both are fully closed and
// every goroutine it started has ended.
func proxy(ch gossh.Channel, reqs <-chan *gossh.Request, c net.Conn) {
	reqsDone := make(chan struct{})
	go func() {
		defer close(reqsDone)
		for req := range reqs {
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
		// The channel is gone: unblock the copier reading from c, but let
		// the other copier deliver what the channel had already received.
		_ = c.SetReadDeadline(time.Now())
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(ch, c)
		_ = ch.CloseWrite()
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(c, ch)
		closeWrite(c)
	}()
	wg.Wait()
	_ = ch.Close()
	c.Close()
	<-reqsDone
}

// closeWrite half-closes c when it supports it, else closes it.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	c.Close()
}
