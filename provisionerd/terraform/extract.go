package terraform

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrUnsafeArchive is wrapped by the errors of a template archive that tries
// to write or point outside its directory, or holds entries that are not
// plain files, directories or links.
var ErrUnsafeArchive = errors.New("unsafe template archive")

// Extraction limits: a template is source code, not a data set.
const (
	maxExtractBytes   = 1 << 30
	maxExtractEntries = 100_000
	maxReadmeBytes    = 1 << 20
)

// extractTar unpacks a template archive (tar, optionally gzip-compressed)
// into dst, which must exist and be empty. The rules, each enforced by
// rejecting the whole archive:
//
//   - names must be relative and stay inside dst after cleaning (no "..",
//     no leading "/");
//   - no entry may be written through a symlink: every parent directory of
//     an entry must be a real directory;
//   - a symlink's target must be relative, lexically inside dst, and, once
//     the whole archive is written, resolve (following every link) to an
//     existing path inside dst;
//   - a hard link must name a regular file already extracted;
//   - only regular files, directories, symlinks and hard links are allowed,
//     within maxExtractBytes and maxExtractEntries.
//
// Writes go through an os.Root, so even a bug in these checks cannot write
// outside dst.
func extractTar(ctx context.Context, dst string, src []byte) error {
	var r io.Reader = bytes.NewReader(src)
	if len(src) >= 2 && src[0] == 0x1f && src[1] == 0x8b {
		gz, err := gzip.NewReader(r)
		if err != nil {
			return fmt.Errorf("extract template: %w", err)
		}
		defer gz.Close()
		r = gz
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("extract template: %w", err)
	}
	defer root.Close()

	var (
		tr       = tar.NewReader(r)
		written  int64
		entries  int
		symlinks []string
	)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("extract template: read archive: %w", err)
		}
		if entries++; entries > maxExtractEntries {
			return fmt.Errorf("extract template: %w: more than %d entries", ErrUnsafeArchive, maxExtractEntries)
		}
		if entries%256 == 0 && ctx.Err() != nil {
			return fmt.Errorf("extract template: %w", ctx.Err())
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, err := archivePath(hdr.Name)
		if err != nil {
			return fmt.Errorf("extract template: %w", err)
		}
		if name == "." {
			continue
		}
		if err := checkParents(root, name); err != nil {
			return fmt.Errorf("extract template: %w", err)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
		case tar.TypeReg:
			if hdr.Size > maxExtractBytes-written {
				return fmt.Errorf("extract template: %w: more than %d bytes", ErrUnsafeArchive, maxExtractBytes)
			}
			if err := prepareEntry(root, name); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			mode := hdr.FileInfo().Mode().Perm()&0o755 | 0o600
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			n, err := io.Copy(f, io.LimitReader(tr, hdr.Size))
			closeErr := f.Close()
			if err != nil {
				return fmt.Errorf("extract template: write %s: %w", name, err)
			}
			if closeErr != nil {
				return fmt.Errorf("extract template: write %s: %w", name, closeErr)
			}
			written += n
		case tar.TypeSymlink:
			if err := checkSymlinkTarget(name, hdr.Linkname); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			if err := prepareEntry(root, name); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			symlinks = append(symlinks, name)
		case tar.TypeLink:
			target, err := archivePath(hdr.Linkname)
			if err != nil || target == "." {
				return fmt.Errorf("extract template: %w: hard link %s -> %s", ErrUnsafeArchive, name, hdr.Linkname)
			}
			if err := checkParents(root, target); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			st, err := root.Lstat(target)
			if err != nil || !st.Mode().IsRegular() {
				return fmt.Errorf("extract template: %w: hard link %s -> %s: not an extracted regular file", ErrUnsafeArchive, name, hdr.Linkname)
			}
			if err := prepareEntry(root, name); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("extract template: %w", err)
			}
		default:
			return fmt.Errorf("extract template: %w: %s has unsupported type %q", ErrUnsafeArchive, name, hdr.Typeflag)
		}
	}
	return verifySymlinks(dst, symlinks)
}

// archivePath cleans an entry name and rejects names leaving the root.
func archivePath(name string) (string, error) {
	if strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") || strings.Contains(name, `\`) {
		return "", fmt.Errorf("%w: entry name %q", ErrUnsafeArchive, name)
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: entry name %q leaves the template directory", ErrUnsafeArchive, name)
	}
	return clean, nil
}

// checkParents requires every existing ancestor of name to be a directory,
// not a symlink, so no entry is written through a link.
func checkParents(root *os.Root, name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		st, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			break // MkdirAll creates the rest
		}
		if err != nil {
			return err
		}
		if st.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s is written through the symlink %s", ErrUnsafeArchive, name, p)
		}
		if !st.IsDir() {
			return fmt.Errorf("%w: %s: parent %s is not a directory", ErrUnsafeArchive, name, p)
		}
	}
	return nil
}

// prepareEntry creates name's parent directories and removes an earlier
// entry of the same name (tar allows duplicates; the last one wins), so the
// new entry is created afresh and never follows an old symlink.
func prepareEntry(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	st, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%w: %s replaces a directory", ErrUnsafeArchive, name)
	}
	return root.Remove(name)
}

// checkSymlinkTarget is the lexical half of the symlink rule; verifySymlinks
// is the resolved half.
func checkSymlinkTarget(name, target string) error {
	if target == "" || strings.ContainsRune(target, 0) || path.IsAbs(target) || strings.Contains(target, `\`) {
		return fmt.Errorf("%w: symlink %s -> %q", ErrUnsafeArchive, name, target)
	}
	joined := path.Join(path.Dir(name), target)
	if joined == ".." || strings.HasPrefix(joined, "../") {
		return fmt.Errorf("%w: symlink %s -> %s leaves the template directory", ErrUnsafeArchive, name, target)
	}
	return nil
}

// verifySymlinks resolves every extracted symlink the way the kernel will
// when Terraform reads it; chains of links can escape where each link alone
// looks harmless, and dangling links are refused too.
func verifySymlinks(dst string, links []string) error {
	if len(links) == 0 {
		return nil
	}
	realRoot, err := filepath.EvalSymlinks(dst)
	if err != nil {
		return fmt.Errorf("extract template: %w", err)
	}
	for _, l := range links {
		resolved, err := filepath.EvalSymlinks(filepath.Join(dst, filepath.FromSlash(l)))
		if err != nil {
			return fmt.Errorf("extract template: %w: symlink %s does not resolve: %w", ErrUnsafeArchive, l, err)
		}
		if !within(realRoot, resolved) {
			return fmt.Errorf("extract template: %w: symlink %s resolves outside the template directory", ErrUnsafeArchive, l)
		}
	}
	return nil
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// readReadme returns the template's README.md (any case), if present.
func readReadme(dir string) ([]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read readme: %w", err)
	}
	for _, e := range entries {
		if !strings.EqualFold(e.Name(), "README.md") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read readme: %w", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || !st.Mode().IsRegular() {
			return nil, nil
		}
		b, err := io.ReadAll(io.LimitReader(f, maxReadmeBytes))
		if err != nil {
			return nil, fmt.Errorf("read readme: %w", err)
		}
		return b, nil
	}
	return nil, nil
}
