// Package testutil holds the helpers every package's tests share: a bounded
// test context, a logger that writes to the test, a goroutine-safe buffer
// and an in-memory tar builder. Tests import it; product code never does.
//
// House rules: only helpers used by at least two packages live here, each
// takes testing.TB so benchmarks can use it too, and none starts a
// goroutine that outlives the test.
package testutil

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Deadlines for Context. They are generous because CI runs -race on two
// shared cores; a test that needs longer says why next to its own value.
const (
	WaitShort  = 30 * time.Second
	WaitMedium = 90 * time.Second
	WaitLong   = 3 * time.Minute
)

// Context returns a context that ends when the test ends or after d,
// whichever comes first, so a hung peer fails the test instead of the
// whole suite's timeout.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Logger returns a debug-level logger that writes through t.Log, so output
// is shown only for failing tests (or with -v). Set TEST_LOG=discard to
// silence it in benchmarks.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("TEST_LOG") == "discard" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(Writer(t), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TeeLogger is Logger that also copies every record into w, for tests that
// assert on what was logged.
func TeeLogger(t testing.TB, w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.MultiWriter(Writer(t), w), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Writer is an io.Writer that logs each write through t.Log. Writes after
// the test ended are dropped rather than panicking, because a component's
// goroutine may log once more while it is being closed.
func Writer(t testing.TB) io.Writer { return &testWriter{t: t} }

type testWriter struct {
	t testing.TB
}

func (w *testWriter) Write(p []byte) (n int, err error) {
	defer func() {
		// t.Log panics once the test has completed.
		if recover() != nil {
			n, err = len(p), nil
		}
	}()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// LockedBuffer is a bytes.Buffer safe for concurrent writers and readers:
// the destination for a component's logs or a command's output that a test
// reads while the component still runs.
type LockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns a copy of everything written so far.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Reset discards everything written so far.
func (b *LockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// Tar archives files (name -> content) as regular files in name order, the
// shape a template upload has.
func Tar(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		hdr := &tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", n, err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatalf("tar write %s: %v", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tar close: %v", err)
	}
	return buf.Bytes()
}

// BuildTags are the build tags of the coder binary (the Makefile's GO_TAGS
// default). Tests that `go build ./cmd/coder` pass them, so that the binary
// they test is the one `make build` ships: ts_debug_websockets compiles
// upstream's websocket DERP client (--derp-force-websockets).
const BuildTags = "ts_debug_websockets"
