package speedtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"time"
)

// Direction is which way data flows, seen from the client.
type Direction byte

// Directions, as sent on the wire.
const (
	Upload   Direction = 'U'
	Download Direction = 'D'
)

func (d Direction) String() string {
	switch d {
	case Upload:
		return "upload"
	case Download:
		return "download"
	default:
		return fmt.Sprintf("Direction(%d)", byte(d))
	}
}

// MaxDuration bounds one test; the server stops sending after it.
const MaxDuration = 5 * time.Minute

// chunkSize is the size of each write, and of each upload frame.
const chunkSize = 32 * 1024

// maxFrame bounds the frame length the server accepts.
const maxFrame = 1 << 20

// Result is the outcome of one test.
type Result struct {
	Bytes          int64         // payload bytes transferred
	Duration       time.Duration // time they took
	MbitsPerSecond float64       // Bytes*8 / Duration, in 10^6 bits per second
}

func newResult(n int64, d time.Duration) Result {
	r := Result{Bytes: n, Duration: d}
	if d > 0 {
		r.MbitsPerSecond = float64(n) * 8 / d.Seconds() / 1e6
	}
	return r
}

// payload returns a chunk of incompressible bytes.
func payload() []byte {
	b := make([]byte, chunkSize)
	var seed [32]byte
	r := rand.NewChaCha8(seed)
	_, _ = r.Read(b)
	return b
}

// Serve answers speed tests on every connection accepted on l until ctx
// ends or l fails; it then closes l and the open connections and returns
// after every handler has finished.
func Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer context.AfterFunc(ctx, func() { _ = l.Close() })()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("accept speedtest connection: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = ServeConn(ctx, c)
		}()
	}
}

// ServeConn answers one speed test on conn, then closes it.
func ServeConn(ctx context.Context, conn net.Conn) error {
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })()
	var hdr [1]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return fmt.Errorf("read speedtest header: %w", err)
	}
	switch Direction(hdr[0]) {
	case Download:
		return sendBulk(conn)
	case Upload:
		return receiveFrames(conn)
	default:
		return fmt.Errorf("unknown speedtest direction %q", hdr[0])
	}
}

// sendBulk writes data until the client goes away or MaxDuration passes.
func sendBulk(conn net.Conn) error {
	_ = conn.SetWriteDeadline(time.Now().Add(MaxDuration))
	buf := payload()
	for {
		if _, err := conn.Write(buf); err != nil {
			return nil // the client closing is how a download ends
		}
	}
}

// receiveFrames reads upload frames and answers with their total size.
func receiveFrames(conn net.Conn) error {
	_ = conn.SetReadDeadline(time.Now().Add(MaxDuration))
	buf := make([]byte, maxFrame)
	var total uint64
	for {
		var size [4]byte
		if _, err := io.ReadFull(conn, size[:]); err != nil {
			return fmt.Errorf("read upload frame: %w", err)
		}
		n := binary.BigEndian.Uint32(size[:])
		if n == 0 {
			break
		}
		if n > maxFrame {
			return fmt.Errorf("upload frame of %d bytes exceeds %d", n, maxFrame)
		}
		if _, err := io.ReadFull(conn, buf[:n]); err != nil {
			return fmt.Errorf("read upload frame: %w", err)
		}
		total += uint64(n)
	}
	var reply [8]byte
	binary.BigEndian.PutUint64(reply[:], total)
	if _, err := conn.Write(reply[:]); err != nil {
		return fmt.Errorf("write upload total: %w", err)
	}
	return nil
}

// Run performs one test of the given direction and duration on a
// connection from dial, and returns the measured throughput.
func Run(ctx context.Context, dial func(context.Context) (net.Conn, error), dir Direction, duration time.Duration) (Result, error) {
	if dir != Upload && dir != Download {
		return Result{}, fmt.Errorf("speedtest: invalid direction %v", dir)
	}
	if duration <= 0 || duration > MaxDuration {
		return Result{}, fmt.Errorf("speedtest: duration %v not in (0, %v]", duration, MaxDuration)
	}
	conn, err := dial(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("dial speedtest: %w", err)
	}
	defer conn.Close()
	defer context.AfterFunc(ctx, func() { _ = conn.Close() })()

	start := time.Now()
	if _, err := conn.Write([]byte{byte(dir)}); err != nil {
		return Result{}, wrapCtx(ctx, fmt.Errorf("write speedtest header: %w", err))
	}
	var res Result
	if dir == Download {
		res, err = download(conn, start, duration)
	} else {
		res, err = upload(conn, start, duration)
	}
	return res, wrapCtx(ctx, err)
}

// download counts bytes read until the duration has passed.
func download(conn net.Conn, start time.Time, duration time.Duration) (Result, error) {
	end := start.Add(duration)
	_ = conn.SetReadDeadline(end)
	buf := make([]byte, chunkSize)
	var n int64
	for {
		m, err := conn.Read(buf)
		n += int64(m)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return newResult(n, time.Since(start)), nil
		}
		if err != nil {
			return Result{}, fmt.Errorf("read download: %w", err)
		}
	}
}

// upload sends frames until the duration has passed, then collects the
// server's count.
func upload(conn net.Conn, start time.Time, duration time.Duration) (Result, error) {
	frame := make([]byte, 4, 4+chunkSize)
	binary.BigEndian.PutUint32(frame, chunkSize)
	frame = append(frame, payload()...)
	for time.Since(start) < duration {
		if _, err := conn.Write(frame); err != nil {
			return Result{}, fmt.Errorf("write upload: %w", err)
		}
	}
	if _, err := conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return Result{}, fmt.Errorf("write upload end: %w", err)
	}
	var reply [8]byte
	if _, err := io.ReadFull(conn, reply[:]); err != nil {
		return Result{}, fmt.Errorf("read upload total: %w", err)
	}
	return newResult(int64(binary.BigEndian.Uint64(reply[:])), time.Since(start)), nil
}

// wrapCtx prefers the context's error when it caused err.
func wrapCtx(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("speedtest: %w", ctx.Err())
	}
	return err
}
