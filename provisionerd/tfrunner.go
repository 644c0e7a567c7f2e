package provisionerd

import (
	"archive/tar"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd/terraform"
)

// TerraformRunner is the JobRunner of `coder provisioner start` and of
// coderd's built-in daemons: it runs jobs with the Terraform CLI through
// package provisionerd/terraform, translating between the wire types coderd
// sends and that package's requests, and giving its errors the codes coderd
// records. It is safe for concurrent use.
type TerraformRunner struct {
	tf             *terraform.Runner
	interruptGrace time.Duration
}

var (
	_ JobRunner       = (*TerraformRunner)(nil)
	_ InterruptGracer = (*TerraformRunner)(nil)
)

// NewTerraformRunner finds (or installs) Terraform and prepares its cache
// directories; see terraform.Options.
func NewTerraformRunner(ctx context.Context, opts terraform.Options) (*TerraformRunner, error) {
	tf, err := terraform.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	grace := opts.InterruptGrace
	if grace <= 0 {
		grace = terraform.DefaultInterruptGrace
	}
	return &TerraformRunner{tf: tf, interruptGrace: grace}, nil
}

// Terraform is the underlying runner (its binary path and version).
func (r *TerraformRunner) Terraform() *terraform.Runner { return r.tf }

// InterruptGrace is how long Terraform may take to stop after an
// interrupt before it is killed; the daemon waits that long (plus a
// margin) for a canceled job's partial state.
func (r *TerraformRunner) InterruptGrace() time.Duration { return r.interruptGrace }

// Import runs a template version import.
func (r *TerraformRunner) Import(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) (*codersdk.CompletedTemplateImport, error) {
	var meta codersdk.ProvisionerMetadata
	var vars, prev []codersdk.VariableValue
	if job.TemplateImport != nil {
		meta = job.TemplateImport.Metadata
		vars, prev = job.TemplateImport.Variables, job.TemplateImport.PreviousVariables
	}
	res, err := r.tf.Import(ctx, terraform.ImportRequest{
		Source:            job.TemplateSourceArchive,
		Metadata:          terraformMetadata(meta),
		Variables:         variableMap(vars),
		PreviousVariables: variableMap(prev),
		Logf:              logf,
	})
	if err != nil {
		return nil, terraformJobError(err)
	}
	return &codersdk.CompletedTemplateImport{
		Parameters:     res.Parameters,
		StartResources: res.StartResources,
		StopResources:  res.StopResources,
		Readme:         string(res.Readme),
		Presets:        res.Presets,
		Variables:      res.Variables,
	}, nil
}

// variableMap is the runner's form of template variable values (names are
// unique: coderd refuses duplicates).
func variableMap(vs []codersdk.VariableValue) map[string]string {
	if len(vs) == 0 {
		return nil
	}
	m := make(map[string]string, len(vs))
	for _, v := range vs {
		m[v.Name] = v.Value
	}
	return m
}

// Build runs a workspace build. After a failed apply it returns the partial
// state together with the error.
func (r *TerraformRunner) Build(ctx context.Context, job *codersdk.AcquiredJob, logf func(codersdk.ProvisionerLog)) (*codersdk.CompletedWorkspaceBuild, error) {
	wb := job.WorkspaceBuild
	if wb == nil {
		return nil, &JobError{Code: codersdk.JobErrorCodeInternal, Err: errors.New("workspace build job without its workspace_build input")}
	}
	res, err := r.tf.Build(ctx, terraform.BuildRequest{
		Source:             job.TemplateSourceArchive,
		State:              wb.State,
		Metadata:           terraformMetadata(wb.Metadata),
		Parameters:         wb.Parameters,
		PreviousParameters: wb.PreviousParameters,
		Variables:          variableMap(wb.Variables),
		Logf:               logf,
	})
	var out *codersdk.CompletedWorkspaceBuild
	if res != nil {
		out = &codersdk.CompletedWorkspaceBuild{State: res.State, Resources: res.Resources}
	}
	if err != nil {
		return out, terraformJobError(err)
	}
	return out, nil
}

// terraformMetadata maps the wire metadata onto the runner's. coderd's
// "delete" transition (its database name) is Terraform's "destroy".
func terraformMetadata(m codersdk.ProvisionerMetadata) terraform.Metadata {
	transition := terraform.Transition(m.WorkspaceTransition)
	if m.WorkspaceTransition == "delete" {
		transition = terraform.TransitionDestroy
	}
	roles := make([]terraform.RBACRole, 0, len(m.OwnerRBACRoles))
	for _, r := range m.OwnerRBACRoles {
		roles = append(roles, terraform.RBACRole{Name: r.Name, OrgID: r.OrgID})
	}
	return terraform.Metadata{
		AccessURL:           m.AccessURL,
		WorkspaceTransition: transition,
		WorkspaceName:       m.WorkspaceName,
		WorkspaceID:         m.WorkspaceID,
		WorkspaceBuildID:    m.WorkspaceBuildID,
		Owner:               m.WorkspaceOwner,
		OwnerID:             m.WorkspaceOwnerID,
		OwnerName:           m.WorkspaceOwnerName,
		OwnerEmail:          m.WorkspaceOwnerEmail,
		OwnerSessionToken:   m.OwnerSessionToken,
		OwnerSSHPublicKey:   m.OwnerSSHPublicKey,
		OwnerSSHPrivateKey:  m.OwnerSSHPrivateKey,
		OwnerGroups:         m.OwnerGroups,
		OwnerLoginType:      m.OwnerLoginType,
		OwnerRBACRoles:      roles,
		TemplateID:          m.TemplateID,
		TemplateName:        m.TemplateName,
		TemplateVersion:     m.TemplateVersion,
		AgentScripts:        m.AgentScripts,
	}
}

// terraformJobError gives a runner error its code: CANCELED when the job's
// context ended, TERRAFORM for Terraform's own failures (the message
// carries its diagnostics), INVALID_TEMPLATE for an archive that is
// unsafe or not a tar, REQUIRED_TEMPLATE_VARIABLES or TEMPLATE_VARIABLES
// for template variable values that do not fit, INTERNAL for the rest.
func terraformJobError(err error) error {
	var tfErr *terraform.Error
	var varErr *terraform.VariablesError
	code := codersdk.JobErrorCodeInternal
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = codersdk.JobErrorCodeCanceled
	case errors.As(err, &varErr) && len(varErr.Missing) > 0:
		code = codersdk.JobErrorCodeRequiredTemplateVariables
	case errors.As(err, &varErr):
		code = codersdk.JobErrorCodeTemplateVariables
	case errors.As(err, &tfErr):
		code = codersdk.JobErrorCodeTerraform
	case isArchiveError(err):
		code = codersdk.JobErrorCodeInvalidTemplate
	}
	return &JobError{Code: code, Err: err}
}

// isArchiveError reports a template archive that is unsafe or corrupt, or
// whose variable blocks cannot be read.
// The terraform package marks unsafe archives; a corrupt one surfaces as
// the tar or gzip reader's error.
func isArchiveError(err error) bool {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, terraform.ErrUnsafeArchive), errors.Is(err, terraform.ErrInvalidVariableBlock),
		errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrFieldTooLong), errors.Is(err, tar.ErrInsecurePath),
		errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum),
		errors.As(err, &corrupt):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF):
		// A truncated archive; the only place a runner reads a stream
		// of the job's input is the template archive.
		return true
	}
	return false
}

// String describes the runner for logs.
func (r *TerraformRunner) String() string {
	return fmt.Sprintf("terraform %s (%s)", r.tf.TerraformVersion(), r.tf.TerraformPath())
}
