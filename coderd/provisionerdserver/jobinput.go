package provisionerdserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/gitsshkey"
	"github.com/opencoder/coder/codersdk"
)

// acquiredJob gathers everything the daemon needs to run a job.
func (s *Server) acquiredJob(ctx context.Context, job database.ProvisionerJob) (*codersdk.AcquiredJob, error) {
	file, err := s.opts.DB.GetFileByID(ctx, job.FileID)
	if err != nil {
		return nil, fmt.Errorf("get template file: %w", err)
	}
	out := &codersdk.AcquiredJob{
		JobID: job.ID, CreatedAt: job.CreatedAt, Type: codersdk.ProvisionerJobType(job.Type), OrganizationID: job.OrganizationID,
		Provisioner: job.Provisioner, TemplateSourceArchive: file.Data,
	}
	initiator, err := s.opts.DB.GetUserByID(ctx, job.InitiatorID)
	if err != nil {
		return nil, fmt.Errorf("get initiator: %w", err)
	}
	switch codersdk.ProvisionerJobType(job.Type) {
	case codersdk.ProvisionerJobTypeTemplateVersionImport:
		version, err := s.opts.DB.GetTemplateVersionByJobID(ctx, job.ID)
		if err != nil {
			return nil, fmt.Errorf("get template version: %w", err)
		}
		md := s.baseMetadata(initiator, "start")
		md.WorkspaceName = "import"
		md.WorkspaceID = uuid.NewString()
		md.WorkspaceBuildID = uuid.NewString()
		md.TemplateVersion = version.Name
		// The coder provider insists on a template identity even for an
		// import; a version not yet attached to a template gets a stand-in.
		md.TemplateID, md.TemplateName = uuid.NewString(), "import"
		if version.TemplateID != nil {
			t, err := s.opts.DB.GetTemplateByID(ctx, *version.TemplateID)
			switch {
			case err == nil:
				md.TemplateID, md.TemplateName = t.ID.String(), t.Name
			case !errors.Is(err, database.ErrNotFound):
				return nil, fmt.Errorf("get template: %w", err)
			}
		}
		vars, prev, err := s.importVariables(ctx, version.ID)
		if err != nil {
			return nil, err
		}
		out.TemplateImport = &codersdk.AcquiredTemplateImport{Metadata: md, Variables: vars, PreviousVariables: prev}
	case codersdk.ProvisionerJobTypeWorkspaceBuild:
		wb, err := s.workspaceBuildInput(ctx, job)
		if err != nil {
			return nil, err
		}
		out.WorkspaceBuild = wb
	default:
		return nil, fmt.Errorf("unknown job type %q", job.Type)
	}
	return out, nil
}

func (s *Server) baseMetadata(owner database.User, transition string) codersdk.ProvisionerMetadata {
	roles := []codersdk.RBACRoleRef{{Name: codersdk.RoleMember}}
	for _, r := range owner.RBACRoles {
		roles = append(roles, codersdk.RBACRoleRef{Name: r})
	}
	return codersdk.ProvisionerMetadata{
		AccessURL: s.opts.AccessURL.String(), WorkspaceTransition: transition,
		WorkspaceOwner: owner.Username, WorkspaceOwnerID: owner.ID.String(), WorkspaceOwnerName: owner.Name,
		WorkspaceOwnerEmail: owner.Email, OwnerLoginType: owner.LoginType, OwnerGroups: []string{}, OwnerRBACRoles: roles,
		AgentScripts: AgentInitScripts(),
	}
}

func (s *Server) workspaceBuildInput(ctx context.Context, job database.ProvisionerJob) (*codersdk.AcquiredWorkspaceBuild, error) {
	build, err := s.opts.DB.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		return nil, fmt.Errorf("get build: %w", err)
	}
	ws, err := s.opts.DB.GetWorkspaceByID(ctx, build.WorkspaceID)
	if err != nil {
		return nil, fmt.Errorf("get workspace: %w", err)
	}
	owner, err := s.opts.DB.GetUserByID(ctx, ws.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("get owner: %w", err)
	}
	tmpl, err := s.opts.DB.GetTemplateByID(ctx, ws.TemplateID)
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	version, err := s.opts.DB.GetTemplateVersionByID(ctx, build.TemplateVersionID)
	if err != nil {
		return nil, fmt.Errorf("get template version: %w", err)
	}
	state, err := s.opts.DB.GetLastStateBefore(ctx, ws.ID, build.BuildNumber)
	if err != nil {
		return nil, fmt.Errorf("get previous state: %w", err)
	}
	params, err := s.opts.DB.GetWorkspaceBuildParameters(ctx, build.ID)
	if err != nil {
		return nil, fmt.Errorf("get build parameters: %w", err)
	}
	var prev []database.WorkspaceBuildParameter
	if build.BuildNumber > 1 {
		pb, err := s.opts.DB.GetWorkspaceBuildByNumber(ctx, ws.ID, build.BuildNumber-1)
		switch {
		case err == nil:
			if prev, err = s.opts.DB.GetWorkspaceBuildParameters(ctx, pb.ID); err != nil {
				return nil, fmt.Errorf("get previous build parameters: %w", err)
			}
		case !errors.Is(err, database.ErrNotFound):
			return nil, fmt.Errorf("get previous build: %w", err)
		}
	}
	transition := build.Transition
	if transition == string(codersdk.WorkspaceTransitionDelete) {
		transition = "destroy"
	}
	md := s.baseMetadata(owner, transition)
	md.WorkspaceName, md.WorkspaceID, md.WorkspaceBuildID = ws.Name, ws.ID.String(), build.ID.String()
	md.TemplateID, md.TemplateName, md.TemplateVersion = tmpl.ID.String(), tmpl.Name, version.Name
	// The owner's git SSH key goes with every transition, not only start:
	// a template that feeds it into a resource must see the same value on
	// stop and destroy, or Terraform would plan a change. Imports get none
	// (no workspace, no owner). The terraform runner redacts the private
	// key from job logs.
	key, err := gitsshkey.Ensure(ctx, s.opts.DB, owner.ID, s.now())
	if err != nil {
		return nil, fmt.Errorf("get owner git ssh key: %w", err)
	}
	md.OwnerSSHPublicKey, md.OwnerSSHPrivateKey = key.PublicKey, key.PrivateKey
	if transition == "start" {
		token, err := s.ownerWorkspaceToken(ctx, owner.ID, ws.ID)
		if err != nil {
			return nil, fmt.Errorf("issue owner token: %w", err)
		}
		md.OwnerSessionToken = token
	} else if err := deleteOwnerWorkspaceToken(ctx, s.opts.DB, owner.ID, ws.ID); err != nil {
		return nil, err
	}
	vars, err := s.buildVariables(ctx, version.ID)
	if err != nil {
		return nil, err
	}
	return &codersdk.AcquiredWorkspaceBuild{
		WorkspaceBuildID: build.ID, WorkspaceName: ws.Name, State: state,
		Parameters: ConvertBuildParameters(params), PreviousParameters: ConvertBuildParameters(prev), Metadata: md,
		Variables: vars,
	}, nil
}

// ConvertBuildParameters converts stored build parameters to their wire form.
func ConvertBuildParameters(ps []database.WorkspaceBuildParameter) []codersdk.WorkspaceBuildParameter {
	out := make([]codersdk.WorkspaceBuildParameter, 0, len(ps))
	for _, p := range ps {
		out = append(out, codersdk.WorkspaceBuildParameter{Name: p.Name, Value: p.Value})
	}
	return out
}
