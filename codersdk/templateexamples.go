package codersdk

import (
	"context"
	"net/http"
)

// TemplateExample is a starter template shipped inside the server binary.
// A new deployment can create its first template from one without a CLI or
// a Terraform checkout: pass its ID as CreateTemplateVersionRequest.ExampleID.
type TemplateExample struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	// Markdown is the example's README.md (front matter removed).
	Markdown string `json:"markdown"`
}

// TemplateExamples lists the starter templates the server ships.
func (c *Client) TemplateExamples(ctx context.Context) ([]TemplateExample, error) {
	var out []TemplateExample
	return out, c.do(ctx, http.MethodGet, "/api/v2/templates/examples", nil, http.StatusOK, &out)
}
