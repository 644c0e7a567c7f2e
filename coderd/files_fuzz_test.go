package coderd

import (
	"archive/tar"
	"path"
	"strings"
	"testing"

	"github.com/opencoder/coder/testutil"
)

// fuzzMaxEntries is the entry limit the fuzz target checks against: small,
// so generated archives reach it.
const fuzzMaxEntries = 8

// FuzzCheckTar feeds arbitrary bytes to the template upload check. It must
// never panic, and what it accepts must be safe to extract into a job
// directory: a readable tar of 1 to fuzzMaxEntries entries, each a file,
// directory, link or PAX header, whose names and link targets stay inside
// the directory. The invariants are checked by reading the archive again
// independently of checkTar.
func FuzzCheckTar(f *testing.F) {
	hdr := func(name string, typ byte, link string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Linkname: link, Mode: 0o644}
	}
	seeds := [][]byte{
		nil,
		[]byte("not a tar"),
		testutil.Tar(f, map[string]string{"main.tf": "terraform {}"}),
		testutil.Tar(f, map[string]string{"main.tf": "", "modules/a/main.tf": "# a", "README.md": "hi"}),
		testutil.TarHeaders(f, hdr("dir/", tar.TypeDir, ""), hdr("dir/link", tar.TypeSymlink, "../main.tf"), hdr("main.tf", tar.TypeReg, "")),
		testutil.TarHeaders(f, hdr("hard", tar.TypeLink, "main.tf")),
		// Rejected: escapes, absolute paths, devices, links outside.
		testutil.TarHeaders(f, hdr("../evil", tar.TypeReg, "")),
		testutil.TarHeaders(f, hdr("a/../../evil", tar.TypeReg, "")),
		testutil.TarHeaders(f, hdr("/etc/passwd", tar.TypeReg, "")),
		testutil.TarHeaders(f, hdr(`C:\evil`, tar.TypeReg, "")),
		testutil.TarHeaders(f, hdr("link", tar.TypeSymlink, "/etc/passwd")),
		testutil.TarHeaders(f, hdr("a/link", tar.TypeSymlink, "../../etc")),
		testutil.TarHeaders(f, hdr("hard", tar.TypeLink, "../outside")),
		testutil.TarHeaders(f, hdr("dev", tar.TypeChar, "")),
		testutil.TarHeaders(f, hdr("fifo", tar.TypeFifo, "")),
		testutil.TarHeaders(f, hdr("", tar.TypeReg, "")),
	}
	many := make([]*tar.Header, fuzzMaxEntries+1)
	for i := range many {
		many[i] = hdr(strings.Repeat("f", i+1), tar.TypeReg, "")
	}
	seeds = append(seeds, testutil.TarHeaders(f, many...))
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := checkTar(data, fuzzMaxEntries); err != nil {
			return
		}
		n := 0
		for h, err := range tarEntries(data) {
			if err != nil {
				t.Fatalf("accepted an archive that does not read: %v", err)
			}
			n++
			if !insideDir(h.Name) {
				t.Fatalf("accepted entry %q, which leaves the directory", h.Name)
			}
			switch h.Typeflag {
			case tar.TypeSymlink:
				// Relative to the link's directory; absolute never.
				if path.IsAbs(h.Linkname) || !insideDir(path.Dir(h.Name)+"/"+h.Linkname) {
					t.Fatalf("accepted symlink %q -> %q, which leaves the directory", h.Name, h.Linkname)
				}
			case tar.TypeLink:
				if !insideDir(h.Linkname) {
					t.Fatalf("accepted hard link %q -> %q, which leaves the directory", h.Name, h.Linkname)
				}
			case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
			default:
				t.Fatalf("accepted entry %q of type %q", h.Name, string(h.Typeflag))
			}
		}
		if n == 0 || n > fuzzMaxEntries {
			t.Fatalf("accepted an archive of %d entries (limit %d)", n, fuzzMaxEntries)
		}
	})
}

// insideDir reports whether the slash-separated path p, extracted under a
// directory, stays inside it: not empty, not absolute (nor a Windows drive
// or UNC path), and never climbing above its start.
func insideDir(p string) bool {
	if p == "" || path.IsAbs(p) || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':') {
		return false
	}
	depth := 0
	for _, part := range strings.Split(p, "/") {
		switch part {
		case "..":
			depth--
		case "", ".":
		default:
			depth++
		}
		if depth < 0 {
			return false
		}
	}
	return true
}
