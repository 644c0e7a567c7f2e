package templates

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// This file is the one definition of a template upload: which files of a
// template directory go into it and how their tar headers look. The
// shipped templates (Archive) and `coder templates push` (a directory on
// disk) both pack through WriteArchive, which is tar.Writer.AddFS over
// UploadFS.

// SkipInUpload reports whether a path (slash-separated, relative to the
// template) stays out of an upload: Terraform's working data, state (it
// lives in the database, and may hold secrets) and VCS metadata. A
// skipped directory is skipped with everything under it.
func SkipInUpload(name string, isDir bool) bool {
	base := path.Base(name)
	if isDir {
		return base == ".terraform" || base == ".git"
	}
	return strings.Contains(base, ".tfstate")
}

// UploadFS is fsys as an upload sees it: without what SkipInUpload names
// and without entries a tar cannot hold or Terraform does not read
// (sockets, devices, pipes). Every entry reports the Unix epoch as its time,
// no owner, and its permissions plus owner write (a read-only source such
// as an embedded FS unpacks into files Terraform may rewrite), so the same
// content always packs to the same bytes and a re-push reuses the stored
// file. fsys must implement fs.ReadLinkFS to carry symlinks (os.DirFS does).
func UploadFS(fsys fs.FS) fs.FS { return uploadFS{fsys} }

// WriteArchive writes fsys's UploadFS to w as an uncompressed tar archive,
// entries in lexical order.
func WriteArchive(w io.Writer, fsys fs.FS) error {
	tw := tar.NewWriter(w)
	if err := tw.AddFS(UploadFS(fsys)); err != nil {
		return err
	}
	return tw.Close()
}

// uploadFS filters and normalizes at ReadDir, which is what fs.WalkDir
// (and so tar.Writer.AddFS) lists and stats entries through.
type uploadFS struct{ fsys fs.FS }

var (
	_ fs.ReadDirFS  = uploadFS{}
	_ fs.ReadLinkFS = uploadFS{}
	_ fs.StatFS     = uploadFS{}
)

func (u uploadFS) Open(name string) (fs.File, error) { return u.fsys.Open(name) }

func (u uploadFS) Stat(name string) (fs.FileInfo, error) {
	info, err := fs.Stat(u.fsys, name)
	if err != nil {
		return nil, err
	}
	return uploadInfo{info}, nil
}

func (u uploadFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(u.fsys, name)
	if err != nil {
		return nil, err
	}
	out := make([]fs.DirEntry, 0, len(entries))
	for _, e := range entries {
		t := e.Type()
		if !t.IsRegular() && !t.IsDir() && t != fs.ModeSymlink {
			continue
		}
		if SkipInUpload(path.Join(name, e.Name()), e.IsDir()) {
			continue
		}
		out = append(out, uploadEntry{e})
	}
	return out, nil
}

func (u uploadFS) ReadLink(name string) (string, error) { return fs.ReadLink(u.fsys, name) }

func (u uploadFS) Lstat(name string) (fs.FileInfo, error) {
	info, err := fs.Lstat(u.fsys, name)
	if err != nil {
		return nil, err
	}
	return uploadInfo{info}, nil
}

type uploadEntry struct{ fs.DirEntry }

func (e uploadEntry) Info() (fs.FileInfo, error) {
	info, err := e.DirEntry.Info()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", e.Name(), err)
	}
	return uploadInfo{info}, nil
}

// uploadInfo is a FileInfo without time or owner (Sys is nil, so
// tar.FileInfoHeader looks up no user), its permissions plus owner write.
type uploadInfo struct{ fs.FileInfo }

func (i uploadInfo) Mode() fs.FileMode {
	m := i.FileInfo.Mode()
	if m&fs.ModeSymlink != 0 {
		return m
	}
	return m | 0o200
}

func (uploadInfo) ModTime() time.Time { return time.Unix(0, 0) }
func (uploadInfo) Sys() any           { return nil }
