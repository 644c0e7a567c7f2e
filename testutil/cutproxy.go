package testutil

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// CutProxy forwards TCP to a backend on loopback; while cut it closes
// every connection and accepts new ones only to close them: a partition
// that resets connections, e.g. between a replica and PostgreSQL.
type CutProxy struct {
	ln      net.Listener
	backend string
	wg      sync.WaitGroup
	mu      sync.Mutex
	cut     bool
	conns   map[net.Conn]struct{}
}

// NewCutProxy starts a proxy to backend (host:port), closed when the test
// ends.
func NewCutProxy(t *testing.T, backend string) *CutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &CutProxy{ln: ln, backend: backend, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.SetCut(true)
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's host:port.
func (p *CutProxy) Addr() string { return p.ln.Addr().String() }

// SetCut cuts (closing every connection) or heals the path.
func (p *CutProxy) SetCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			_ = c.Close()
		}
	}
}

// add tracks conns, or reports false when cut.
func (p *CutProxy) add(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *CutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() {
			defer c.Close()
			up, err := net.Dial("tcp", p.backend)
			if err != nil {
				return
			}
			defer up.Close()
			if !p.add(c, up) {
				return
			}
			var copies sync.WaitGroup
			copies.Go(func() { _, _ = io.Copy(up, c); _ = c.Close(); _ = up.Close() })
			copies.Go(func() { _, _ = io.Copy(c, up); _ = c.Close(); _ = up.Close() })
			copies.Wait()
			p.mu.Lock()
			delete(p.conns, c)
			delete(p.conns, up)
			p.mu.Unlock()
		})
	}
}
