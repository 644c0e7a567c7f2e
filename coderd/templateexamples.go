package coderd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/templates"
)

// templateExamples lists the starter templates built into the binary, so a
// new deployment's dashboard can offer them without a CLI.
func (api *API) templateExamples(w http.ResponseWriter, r *http.Request) {
	list := templates.List()
	out := make([]codersdk.TemplateExample, 0, len(list))
	for _, t := range list {
		md, err := templates.Markdown(t.ID)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "read example "+t.ID, err)
			return
		}
		out = append(out, codersdk.TemplateExample{ID: t.ID, Name: t.Name, Description: t.Description, Markdown: md})
	}
	httpapi.Write(w, http.StatusOK, out)
}

// exampleFile stores the starter template id as an uploaded file of the
// caller's (deduplicated by hash, exactly like POST /files) and returns it.
// An unknown id is reported against the field example_id.
func (api *API) exampleFile(ctx context.Context, actor httpmw.Actor, id string) (database.File, *codersdk.ValidationError, error) {
	data, err := templates.Archive(id)
	if err != nil {
		var ids []string
		for _, t := range templates.List() {
			ids = append(ids, t.ID)
		}
		return database.File{}, &codersdk.ValidationError{Field: "example_id", Detail: fmt.Sprintf("no starter template %q (valid: %v)", id, ids)}, nil
	}
	sum := sha256.Sum256(data)
	fileID, _, err := api.opts.DB.InsertFileDeduplicated(ctx, database.File{
		ID: uuid.New(), Hash: hex.EncodeToString(sum[:]), CreatedBy: actor.User.ID, Mimetype: codersdk.ContentTypeTar, Data: data, CreatedAt: api.now(),
	})
	if err != nil {
		return database.File{}, nil, fmt.Errorf("store example %s: %w", id, err)
	}
	f, err := api.opts.DB.GetFileByID(ctx, fileID)
	if err != nil {
		return database.File{}, nil, fmt.Errorf("read example file %s: %w", id, err)
	}
	return f, nil, nil
}
