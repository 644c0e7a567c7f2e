package terraform

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencoder/coder/testutil"
)

type tarEntry struct {
	name, body, link string
	typ              byte
}

func rawTar(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func file(name, body string) tarEntry { return tarEntry{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) tarEntry        { return tarEntry{name: name, typ: tar.TypeDir} }
func symlink(name, target string) tarEntry {
	return tarEntry{name: name, link: target, typ: tar.TypeSymlink}
}
func hardlink(name, target string) tarEntry {
	return tarEntry{name: name, link: target, typ: tar.TypeLink}
}

func TestExtractTar(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		entries []tarEntry
		unsafe  bool
		check   map[string]string // path -> content, after extraction
	}{
		{
			name: "plain tree",
			entries: []tarEntry{
				dir("./"), file("./main.tf", "a"), dir("modules/"), file("modules/m/x.tf", "b"),
				symlink("link.tf", "modules/m/x.tf"), symlink("modules/up.tf", "../main.tf"), hardlink("hard.tf", "main.tf"),
			},
			check: map[string]string{"main.tf": "a", "modules/m/x.tf": "b", "link.tf": "b", "modules/up.tf": "a", "hard.tf": "a"},
		},
		{
			name:    "duplicate entry: the last one wins",
			entries: []tarEntry{file("main.tf", "old"), file("main.tf", "new")},
			check:   map[string]string{"main.tf": "new"},
		},
		{name: "dot dot", entries: []tarEntry{file("../evil", "x")}, unsafe: true},
		{name: "nested dot dot", entries: []tarEntry{file("a/../../evil", "x")}, unsafe: true},
		{name: "absolute", entries: []tarEntry{file("/tmp/evil", "x")}, unsafe: true},
		{name: "symlink absolute", entries: []tarEntry{symlink("etc", "/etc")}, unsafe: true},
		{name: "symlink escaping", entries: []tarEntry{symlink("up", "../..")}, unsafe: true},
		{name: "symlink dangling", entries: []tarEntry{symlink("nothing", "missing")}, unsafe: true},
		{
			// Each link alone stays inside; together they point out.
			name:    "symlink chain escaping",
			entries: []tarEntry{symlink("here", "."), symlink("out", "here/..")},
			unsafe:  true,
		},
		{
			name:    "write through a symlinked directory",
			entries: []tarEntry{dir("real"), symlink("alias", "real"), file("alias/x.tf", "x")},
			unsafe:  true,
		},
		{
			name:    "file replacing a symlink is written in place",
			entries: []tarEntry{file("target.tf", "t"), symlink("x.tf", "target.tf"), file("x.tf", "own")},
			check:   map[string]string{"target.tf": "t", "x.tf": "own"},
		},
		{name: "hard link escaping", entries: []tarEntry{hardlink("passwd", "../../etc/passwd")}, unsafe: true},
		{name: "hard link to a missing file", entries: []tarEntry{hardlink("x", "missing")}, unsafe: true},
		{name: "device", entries: []tarEntry{{name: "dev", typ: tar.TypeChar}}, unsafe: true},
		{name: "fifo", entries: []tarEntry{{name: "fifo", typ: tar.TypeFifo}}, unsafe: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			dst := filepath.Join(parent, "job")
			if err := os.Mkdir(dst, 0o700); err != nil {
				t.Fatal(err)
			}
			err := extractTar(testutil.Context(t, testutil.WaitLong), dst, rawTar(t, tc.entries...))
			if tc.unsafe {
				if !errors.Is(err, ErrUnsafeArchive) {
					t.Fatalf("err = %v, want ErrUnsafeArchive", err)
				}
				// Nothing may appear next to the job directory.
				if entries, _ := os.ReadDir(parent); len(entries) != 1 {
					t.Errorf("extraction wrote outside: %v", entries)
				}
				return
			}
			if err != nil {
				t.Fatalf("extract: %v", err)
			}
			for p, want := range tc.check {
				got, err := os.ReadFile(filepath.Join(dst, p))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", p, got, err, want)
				}
			}
		})
	}
}

func TestExtractTarGzip(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	if _, err := gz.Write(rawTar(t, file("main.tf", "gz"))); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := extractTar(testutil.Context(t, testutil.WaitLong), dst, buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "main.tf")); err != nil || string(b) != "gz" {
		t.Fatalf("main.tf = %q, %v", b, err)
	}
}
