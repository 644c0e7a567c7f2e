package coderd

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

func (api *API) postFile(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	if !rbac.Authorize(actor.Subject, rbac.ActionCreate, rbac.Object{Type: rbac.ResourceFile, OwnerID: actor.User.ID}) {
		httpapi.Forbidden(w)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != codersdk.ContentTypeTar {
		httpapi.Error(w, http.StatusUnsupportedMediaType, "Unsupported content type.", fmt.Sprintf("Upload a tar archive with Content-Type %s (got %q).", codersdk.ContentTypeTar, mt))
		return
	}
	limit := api.opts.MaxFileSize
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		httpapi.Error(w, http.StatusRequestEntityTooLarge, "File too large.", fmt.Sprintf("The limit is %d bytes (--max-file-size).", limit))
		return
	}
	if err != nil {
		httpapi.Error(w, http.StatusBadRequest, "Could not read the upload.", err.Error())
		return
	}
	if err := checkTar(data, api.opts.MaxFileEntries); err != nil {
		httpapi.Error(w, http.StatusBadRequest, "Invalid template archive.", err.Error())
		return
	}
	sum := sha256.Sum256(data)
	id, created, err := api.opts.DB.InsertFileDeduplicated(ctx, database.File{
		ID: uuid.New(), Hash: hex.EncodeToString(sum[:]), CreatedBy: actor.User.ID, Mimetype: mt, Data: data, CreatedAt: api.now(),
	})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store file", err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	httpapi.Write(w, status, codersdk.UploadResponse{ID: id})
}

func (api *API) file(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	id, err := uuid.Parse(chi.URLParam(r, "fileID"))
	if err != nil {
		httpapi.ResourceNotFound(w)
		return
	}
	f, err := api.opts.DB.GetFileByID(ctx, id)
	// Files are readable by their uploader and by template admins.
	if errors.Is(err, database.ErrNotFound) || (err == nil && f.CreatedBy != actor.User.ID && !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceFile, OwnerID: f.CreatedBy})) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get file", err)
		return
	}
	w.Header().Set("Content-Type", f.Mimetype)
	w.Header().Set("Content-Length", fmt.Sprint(len(f.Data)))
	_, _ = w.Write(f.Data)
}

// checkTar rejects archives that could write outside the job directory or
// exhaust it: entries with "..", absolute paths, links that point outside,
// device files, and more than maxEntries entries.
func checkTar(data []byte, maxEntries int) error {
	n := 0
	for h, err := range tarEntries(data) {
		if err != nil {
			return fmt.Errorf("not a valid tar archive: %w", err)
		}
		n++
		if n > maxEntries {
			return fmt.Errorf("too many entries: the limit is %d", maxEntries)
		}
		if err := checkTarPath(h.Name); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeXGlobalHeader, tar.TypeXHeader:
		case tar.TypeSymlink:
			target := h.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(h.Name), target)
			}
			if err := checkTarPath(target); err != nil {
				return fmt.Errorf("symlink %q -> %q points outside the template: %w", h.Name, h.Linkname, err)
			}
		case tar.TypeLink:
			if err := checkTarPath(h.Linkname); err != nil {
				return fmt.Errorf("hard link %q -> %q points outside the template: %w", h.Name, h.Linkname, err)
			}
		default:
			return fmt.Errorf("entry %q: unsupported type %q (only files, directories and links)", h.Name, string(h.Typeflag))
		}
	}
	if n == 0 {
		return errors.New("the archive is empty")
	}
	return nil
}

// tarEntries yields the headers of a tar archive in order; a read error is
// yielded once, last.
func tarEntries(data []byte) iter.Seq2[*tar.Header, error] {
	return func(yield func(*tar.Header, error) bool) {
		tr := tar.NewReader(bytes.NewReader(data))
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if !yield(h, err) || err != nil {
				return
			}
		}
	}
}

func checkTarPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if path.IsAbs(p) || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':') {
		return errors.New("absolute paths are not allowed")
	}
	clean := path.Clean(p)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return errors.New("paths may not leave the template directory")
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return errors.New("paths may not contain ..")
		}
	}
	return nil
}
