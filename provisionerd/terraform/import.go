package terraform

import (
	"context"
	"fmt"
	"path/filepath"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/opencoder/coder/codersdk"
)

// ImportRequest asks for a template version's parameters and resources.
type ImportRequest struct {
	// Source is the template directory as a tar archive (gzip allowed).
	Source []byte
	// Metadata fills the provider environment. Its transition is ignored
	// (both are planned); an empty WorkspaceName becomes "import" and empty
	// WorkspaceID and OwnerID get random UUIDs, as no workspace exists yet.
	Metadata Metadata
	// Variables are the template variable values given at push, read as
	// Terraform reads -var but passed in a private -var-file (never on
	// the command line). Each must name a variable the template declares,
	// else the import fails with a *VariablesError, as it does when a
	// required variable has no value.
	Variables map[string]string
	// PreviousVariables are values of the template's previous version:
	// used for the variables it still declares and Variables leaves out,
	// dropped (with a log line) for the others.
	PreviousVariables map[string]string
	// Logf receives every log line, in order and never concurrently. It
	// runs on the goroutine copying Terraform's output, so it must not
	// block for long (queue the line, don't send it over the network).
	// May be nil.
	Logf func(codersdk.ProvisionerLog)
}

// ImportResult describes a template version.
type ImportResult struct {
	// Parameters are the coder_parameter data sources, with their default
	// values applied.
	Parameters []codersdk.TemplateVersionParameter
	// StartResources and StopResources are what a start and a stop build
	// would create: resources in both survive a stop.
	StartResources []codersdk.ProvisionerResource
	StopResources  []codersdk.ProvisionerResource
	// Readme is the template's README.md, nil if it has none.
	Readme []byte
	// Presets are the coder_workspace_preset data sources.
	Presets []codersdk.Preset
	// Variables are the root module's variable blocks, in name order
	// (Value empty).
	Variables []codersdk.TemplateVersionVariable
}

// Import runs init and a plan for each of the start and stop transitions,
// with default parameter values and no state. Nothing is applied. A failure
// of Terraform returns an *Error carrying its diagnostics.
func (r *Runner) Import(ctx context.Context, req ImportRequest) (*ImportResult, error) {
	meta := req.Metadata
	if meta.WorkspaceName == "" {
		meta.WorkspaceName = "import"
	}
	if meta.WorkspaceID == "" {
		meta.WorkspaceID = newUUID()
	}
	if meta.OwnerID == "" {
		meta.OwnerID = newUUID()
	}
	sink := newLogSink(req.Logf, newRedactor(meta.secrets()))
	sink.begin(StageSettingUp)
	j, err := r.newJob(ctx, req.Source, sink)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer j.close()
	sink.Logf(codersdk.ProvisionerLogLevelInfo, "Terraform %s", r.version)

	readme, err := readReadme(j.dir)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	vars, err := j.useVariables(req.Variables, req.PreviousVariables, true)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	env, err := r.jobEnv(meta, TransitionStart, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := j.setEnv(env); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := j.init(ctx); err != nil {
		return nil, err
	}
	dot, err := j.graph(ctx)
	if err != nil {
		return nil, err
	}
	d := depsFromDOT(dot)

	result := &ImportResult{Readme: readme, Variables: vars.apiVariables()}
	for _, t := range []Transition{TransitionStart, TransitionStop} {
		env, err := r.jobEnv(meta, t, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if err := j.setEnv(env); err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		stage := StagePlanStart
		if t == TransitionStop {
			stage = StagePlanStop
		}
		planFile := filepath.Join(j.dir, "import-"+string(t)+".tfplan")
		if err := j.plan(ctx, stage, planFile, false); err != nil {
			return nil, err
		}
		plan, err := j.showPlan(ctx, planFile)
		if err != nil {
			return nil, err
		}
		managed, data := planResources(plan)
		resources, err := convertResources(managed, d)
		if err != nil {
			return nil, fmt.Errorf("import: %s: %w", t, err)
		}
		if t == TransitionStart {
			result.StartResources = resources
			if result.Parameters, err = convertParameters(data); err != nil {
				return nil, fmt.Errorf("import: %w", err)
			}
			if result.Presets, err = convertPresets(data, result.Parameters); err != nil {
				return nil, fmt.Errorf("import: %w", err)
			}
			for _, line := range ignoredAttributes(plan.Config) {
				sink.Logf(codersdk.ProvisionerLogLevelWarn, "%s (set by the template; this version of coder does not act on it)", line)
			}
		} else {
			result.StopResources = resources
		}
	}
	if vars.parseErr != nil {
		return nil, fmt.Errorf("import: %w", vars.parseErr)
	}
	return result, nil
}

// planResources returns the planned managed resources and the data sources
// read during the plan (which Terraform reports in the prior state).
func planResources(plan *tfjson.Plan) (managed, data []tfResource) {
	if plan.PlannedValues != nil {
		managed = flatten(plan.PlannedValues.RootModule, tfjson.ManagedResourceMode)
	}
	if plan.PriorState != nil && plan.PriorState.Values != nil {
		data = flatten(plan.PriorState.Values.RootModule, tfjson.DataResourceMode)
	}
	return managed, data
}
