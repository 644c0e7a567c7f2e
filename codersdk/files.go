package codersdk

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/google/uuid"
)

// ContentTypeTar is the only upload type templates use.
const ContentTypeTar = "application/x-tar"

// UploadResponse names an uploaded file. The JSON name "hash" is Coder's,
// kept for compatibility although the value is the file's ID.
type UploadResponse struct {
	ID uuid.UUID `json:"hash"`
}

// Upload stores a template tar archive and returns its ID. Identical
// content uploaded twice gets the same ID.
func (c *Client) Upload(ctx context.Context, contentType string, r io.Reader) (UploadResponse, error) {
	var out UploadResponse
	resp, err := c.Request(ctx, http.MethodPost, "/api/v2/files", r, WithHeader("Content-Type", contentType))
	if err != nil {
		return out, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return out, ReadBodyAsError(resp)
	}
	if err := decodeJSON(resp.Body, &out); err != nil {
		return out, fmt.Errorf("decode upload response: %w", err)
	}
	return out, nil
}

// Download returns a file's content and content type.
func (c *Client) Download(ctx context.Context, id uuid.UUID) ([]byte, string, error) {
	resp, err := c.Request(ctx, http.MethodGet, "/api/v2/files/"+id.String(), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", ReadBodyAsError(resp)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("read file: %w", err)
	}
	return b, resp.Header.Get("Content-Type"), nil
}
