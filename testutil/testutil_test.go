package testutil

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestContextEndsWithDeadline(t *testing.T) {
	t.Parallel()
	ctx := Context(t, time.Millisecond)
	select {
	case <-ctx.Done():
	case <-time.After(WaitShort):
		t.Fatal("context outlived its deadline")
	}
}

func TestLockedBufferConcurrent(t *testing.T) {
	t.Parallel()
	var b LockedBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Fatalf("len = %d, want 800", got)
	}
	b.Reset()
	if b.String() != "" {
		t.Fatal("Reset left data")
	}
}

func TestTarRoundTrip(t *testing.T) {
	t.Parallel()
	data := Tar(t, map[string]string{"b.tf": "two", "a.tf": "one"})
	tr := tar.NewReader(bytes.NewReader(data))
	var names, bodies []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		bodies = append(bodies, string(body))
	}
	if len(names) != 2 || names[0] != "a.tf" || bodies[0] != "one" || names[1] != "b.tf" || bodies[1] != "two" {
		t.Fatalf("got %v %v", names, bodies)
	}
}

func TestWriterAfterTestEnds(t *testing.T) {
	t.Parallel()
	var w io.Writer
	t.Run("inner", func(t *testing.T) { w = Writer(t) })
	// The inner test is over: writing must not panic.
	if _, err := w.Write([]byte("late line\n")); err != nil {
		t.Fatal(err)
	}
}

func TestWaitBuffer(t *testing.T) {
	t.Parallel()
	ctx := Context(t, WaitShort)
	var b WaitBuffer
	go func() {
		_, _ = b.Write([]byte("hello "))
		_, _ = b.Write([]byte("pid=42 world"))
		b.CloseWrite()
	}()
	off := b.WaitFor(ctx, t, 0, "hello")
	if off != 5 {
		t.Fatalf("offset %d, want 5", off)
	}
	m := b.WaitMatch(ctx, t, off, regexp.MustCompile(`pid=(\d+)`))
	if m[1] != "42" {
		t.Fatalf("match %q", m)
	}
	b.WaitEOF(ctx, t)
	if b.String() != "hello pid=42 world" {
		t.Fatalf("got %q", b.String())
	}
}
