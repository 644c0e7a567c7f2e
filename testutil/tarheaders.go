package testutil

import (
	"archive/tar"
	"bytes"
	"testing"
)

// TarHeaders archives entries from raw headers, for archives Tar cannot
// shape (links, devices, odd names): an entry with Size > 0 gets that many
// 'x' bytes of content.
func TarHeaders(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %s: %v", h.Name, err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatalf("tar write %s: %v", h.Name, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatalf("tar close: %v", err)
	}
	return buf.Bytes()
}
