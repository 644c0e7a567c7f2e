package tailnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"tailscale.com/net/stun"
)

// STUNServer answers STUN binding requests so nodes can learn their public
// UDP address (and NAT behaviour) for direct connections. It is the one
// listener coderd needs besides its HTTP port, and it is optional.
//
// Upstream's net/stunserver logs through the global log package and sleeps
// a second after a read error; this one is small enough to own.
type STUNServer struct {
	pc        *net.UDPConn
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewSTUNServer listens on the UDP address addr ("127.0.0.1:0" picks a port)
// and serves until ctx ends or Close is called.
func NewSTUNServer(ctx context.Context, addr string) (*STUNServer, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("stun listen %s: %w", addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("stun listen %s: %w", addr, err)
	}
	s := &STUNServer{pc: pc, done: make(chan struct{})}
	s.wg.Add(2)
	go s.serve()
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			s.closeConn()
		case <-s.done:
		}
	}()
	return s, nil
}

// Addr returns the UDP address the server listens on.
func (s *STUNServer) Addr() netip.AddrPort {
	return s.pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close stops the server and waits for it. It is idempotent.
func (s *STUNServer) Close() error {
	s.closeConn()
	s.wg.Wait()
	return nil
}

func (s *STUNServer) closeConn() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.pc.Close()
	})
}

func (s *STUNServer) serve() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := s.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (e.g. ICMP-induced) errors: pause briefly rather
			// than spin.
			select {
			case <-s.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		pkt := buf[:n]
		if !stun.Is(pkt) {
			continue
		}
		txid, err := stun.ParseBindingRequest(pkt)
		if err != nil {
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		_, _ = s.pc.WriteToUDPAddrPort(stun.Response(txid, from), from)
	}
}
