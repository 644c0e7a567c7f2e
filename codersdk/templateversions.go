package codersdk

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// MinimalUser names a user in other objects.
type MinimalUser struct {
	ID       uuid.UUID `json:"id"`
	Username string    `json:"username"`
}

// TemplateVersion is one upload of a template's source and its import job.
type TemplateVersion struct {
	ID             uuid.UUID      `json:"id"`
	TemplateID     *uuid.UUID     `json:"template_id,omitempty"`
	OrganizationID uuid.UUID      `json:"organization_id"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	Name           string         `json:"name"`
	Message        string         `json:"message"`
	Job            ProvisionerJob `json:"job"`
	Readme         string         `json:"readme"`
	CreatedBy      MinimalUser    `json:"created_by"`
	Archived       bool           `json:"archived"`
}

// CreateTemplateVersionRequest uploads a version; its import job is queued
// at once.
type CreateTemplateVersionRequest struct {
	Name    string `json:"name,omitempty"`
	Message string `json:"message,omitempty"`
	// TemplateID attaches the version to an existing template.
	TemplateID    uuid.UUID `json:"template_id,omitempty"`
	StorageMethod string    `json:"storage_method"`
	FileID        uuid.UUID `json:"file_id"`
	// ExampleID creates the version from a starter template the server
	// ships (see TemplateExamples) instead of an uploaded file; set one of
	// FileID and ExampleID.
	ExampleID       string            `json:"example_id,omitempty"`
	Provisioner     string            `json:"provisioner"`
	ProvisionerTags map[string]string `json:"tags,omitempty"`
	// UserVariableValues set the template's variables for this version.
	// With TemplateID, the variables not given keep the values of the
	// template's active version (sensitive ones too), so a re-push needs
	// none of them again. A variable the template does not declare fails
	// the import.
	UserVariableValues []VariableValue `json:"user_variable_values,omitempty"`
}

// CreateTemplateVersion queues an import of an uploaded file.
func (c *Client) CreateTemplateVersion(ctx context.Context, org uuid.UUID, req CreateTemplateVersionRequest) (TemplateVersion, error) {
	var out TemplateVersion
	return out, c.do(ctx, http.MethodPost, "/api/v2/organizations/"+org.String()+"/templateversions", req, http.StatusCreated, &out)
}

// TemplateVersion returns a version by ID.
func (c *Client) TemplateVersion(ctx context.Context, id uuid.UUID) (TemplateVersion, error) {
	var out TemplateVersion
	return out, c.do(ctx, http.MethodGet, "/api/v2/templateversions/"+id.String(), nil, http.StatusOK, &out)
}

// TemplateVersionRichParameters lists the parameters the import found.
func (c *Client) TemplateVersionRichParameters(ctx context.Context, id uuid.UUID) ([]TemplateVersionParameter, error) {
	var out []TemplateVersionParameter
	return out, c.do(ctx, http.MethodGet, "/api/v2/templateversions/"+id.String()+"/rich-parameters", nil, http.StatusOK, &out)
}

// TemplateVersionResources lists the resources the import planned.
func (c *Client) TemplateVersionResources(ctx context.Context, id uuid.UUID) ([]WorkspaceResource, error) {
	var out []WorkspaceResource
	return out, c.do(ctx, http.MethodGet, "/api/v2/templateversions/"+id.String()+"/resources", nil, http.StatusOK, &out)
}

// CancelTemplateVersion cancels a version's import job.
func (c *Client) CancelTemplateVersion(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, http.MethodPatch, "/api/v2/templateversions/"+id.String()+"/cancel", nil, http.StatusOK, nil)
}

// ArchiveTemplateVersion hides a version that is not active.
func (c *Client) ArchiveTemplateVersion(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, http.MethodPost, "/api/v2/templateversions/"+id.String()+"/archive", nil, http.StatusOK, nil)
}

// UnarchiveTemplateVersion makes an archived version usable again.
func (c *Client) UnarchiveTemplateVersion(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, http.MethodPost, "/api/v2/templateversions/"+id.String()+"/unarchive", nil, http.StatusOK, nil)
}

// TemplateVersionLogsAfter streams an import's logs (see streamJobLogs).
func (c *Client) TemplateVersionLogsAfter(ctx context.Context, id uuid.UUID, after int64, follow bool) (<-chan ProvisionerJobLog, func() error, error) {
	return c.streamJobLogs(ctx, "/api/v2/templateversions/"+id.String()+"/logs", after, follow)
}
