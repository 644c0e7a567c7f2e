package coderd

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"

	"github.com/opencoder/coder/coderd/httpapi"
)

// derpFence keeps this replica's DERP relay to itself while the replica
// is cut off from the registry (replicasync.Manager.CutOff): its peers have
// dropped it from the mesh by then, so clients of its relay could reach
// only each other. When it becomes cut off it closes every DERP
// connection it holds, and it refuses new ones with 503 until it is
// registered again, so nodes reconnect their relay through the load
// balancer to a replica that is still meshed (their coordination has
// moved already: the shared coordinator suspends on the same outage).
type derpFence struct {
	next   http.Handler
	cutOff func() bool

	mu    sync.Mutex // guards conns
	conns map[net.Conn]struct{}
}

func newDERPFence(next http.Handler, cutOff func() bool) *derpFence {
	return &derpFence{next: next, cutOff: cutOff, conns: map[net.Conn]struct{}{}}
}

func (f *derpFence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.cutOff() {
		w.Header().Set("Retry-After", "5")
		httpapi.Error(w, http.StatusServiceUnavailable, "This replica's relay is out of the mesh.",
			"It cannot reach the database, so the other replicas dropped it; connect through another replica.")
		return
	}
	f.next.ServeHTTP(&fencedWriter{ResponseWriter: w, f: f}, r)
}

// closeAll closes every hijacked DERP connection; their handlers end and
// the nodes reconnect.
func (f *derpFence) closeAll() {
	f.mu.Lock()
	conns := make([]net.Conn, 0, len(f.conns))
	for c := range f.conns {
		conns = append(conns, c)
	}
	f.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// fencedWriter records the connection a DERP upgrade (plain or websocket)
// hijacks, until it is closed.
type fencedWriter struct {
	http.ResponseWriter
	f *derpFence
}

func (w *fencedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("derp fence: the response writer cannot hijack")
	}
	c, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	fc := &fencedConn{Conn: c, f: w.f}
	w.f.mu.Lock()
	w.f.conns[fc] = struct{}{}
	w.f.mu.Unlock()
	return fc, rw, nil
}

func (w *fencedWriter) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (w *fencedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// fencedConn leaves the fence's set when closed.
type fencedConn struct {
	net.Conn
	f    *derpFence
	once sync.Once
}

func (c *fencedConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
