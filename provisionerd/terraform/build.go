package terraform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/opencoder/coder/codersdk"
)

// BuildRequest asks for one workspace build.
type BuildRequest struct {
	// Source is the template directory as a tar archive (gzip allowed).
	Source []byte
	// State is the previous build's Terraform state; empty for a new
	// workspace.
	State []byte
	// Metadata fills the provider environment; WorkspaceTransition says
	// what the build does (destroy plans with -destroy).
	Metadata Metadata
	// Parameters are the values for this build; PreviousParameters those of
	// the previous build (for monotonic validation).
	Parameters         []codersdk.WorkspaceBuildParameter
	PreviousParameters []codersdk.WorkspaceBuildParameter
	// Variables are the template variable values of the version built,
	// passed as ImportRequest's are; values for variables the template
	// does not declare are ignored (the import judged them).
	Variables map[string]string
	// Logf receives every log line, in order and never concurrently. It
	// runs on the goroutine copying Terraform's output, so it must not
	// block for long (queue the line, don't send it over the network).
	// May be nil.
	Logf func(codersdk.ProvisionerLog)
}

// BuildResult is what a build leaves behind.
type BuildResult struct {
	// State is the new Terraform state, to store for the next build.
	State []byte
	// Resources are the state's resources with their agents (tokens
	// included). Nil when the build failed.
	Resources []codersdk.ProvisionerResource
}

// Build runs init and one apply (planning included), then reads the new
// state (its file, without another Terraform run).
//
// The error contract: when Build fails before apply starts (bad template,
// failed init or plan), it returns a nil result and the previous state
// stays valid. Once apply has started, Terraform may have changed real
// infrastructure, so Build returns a non-nil *BuildResult with the state
// Terraform wrote (partial after a failed or interrupted apply; the previous
// state if it wrote none) TOGETHER WITH the error, and the caller must store
// that state. A canceled ctx interrupts Terraform (see the package doc) and
// yields an error wrapping context.Canceled.
//
// A destroy of a workspace whose state holds no resources succeeds at once
// without running Terraform.
func (r *Runner) Build(ctx context.Context, req BuildRequest) (*BuildResult, error) {
	transition := req.Metadata.WorkspaceTransition
	switch transition {
	case TransitionStart, TransitionStop, TransitionDestroy:
	default:
		return nil, fmt.Errorf("build: unknown transition %q", transition)
	}
	sink := newLogSink(req.Logf, newRedactor(req.Metadata.secrets()))
	sink.begin(StageSettingUp)
	if transition == TransitionDestroy && stateIsEmpty(req.State) {
		sink.Logf(codersdk.ProvisionerLogLevelInfo, "The workspace has no resources: nothing to destroy.")
		return &BuildResult{State: req.State}, nil
	}

	j, err := r.newJob(ctx, req.Source, sink)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer j.close()
	sink.Logf(codersdk.ProvisionerLogLevelInfo, "Terraform %s", r.version)

	if len(bytes.TrimSpace(req.State)) > 0 {
		if err := os.WriteFile(j.statePath(), req.State, 0o600); err != nil {
			return nil, fmt.Errorf("build: write state: %w", err)
		}
	}
	env, err := r.jobEnv(req.Metadata, transition, req.Parameters, req.PreviousParameters)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if err := j.setEnv(env); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if vars, err := j.useVariables(req.Variables, nil, false); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	} else if vars.parseErr != nil {
		return nil, fmt.Errorf("build: %w", vars.parseErr)
	}
	if err := j.init(ctx); err != nil {
		return nil, err
	}
	applied, applyErr := j.planAndApply(ctx, transition == TransitionDestroy)
	if applyErr != nil && !applied {
		// Planning failed: nothing changed, the previous state stands.
		return nil, applyErr
	}
	state, readErr := j.readState(req.State)
	result := &BuildResult{State: state}
	if applyErr != nil {
		if readErr != nil {
			return result, errors.Join(applyErr, readErr)
		}
		return result, applyErr
	}
	if readErr != nil {
		return result, fmt.Errorf("build: %w", readErr)
	}

	resources, err := j.stateResources(ctx, state)
	if err != nil {
		return result, err
	}
	result.Resources = resources
	return result, nil
}

// stateResources converts the applied state, read from the state file
// itself; only a state it cannot read costs a `terraform show -json`.
func (j *job) stateResources(ctx context.Context, state []byte) ([]codersdk.ProvisionerResource, error) {
	all, rawErr := stateResources(state)
	if rawErr != nil {
		tfState, err := j.showState(ctx)
		if err != nil {
			return nil, err
		}
		resources, err := convertState(tfState)
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		return resources, nil
	}
	resources, err := convertResources(all, depsFromState(all))
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return resources, nil
}

// stateIsEmpty reports a state with no resources (or no state at all).
func stateIsEmpty(state []byte) bool {
	if len(bytes.TrimSpace(state)) == 0 {
		return true
	}
	var s struct {
		Resources []json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(state, &s); err != nil {
		return false // let Terraform judge (and report) it
	}
	return len(s.Resources) == 0
}
