// Package rbac decides who may do what. It is a small, explicit table of
// role -> permissions, evaluated in Go (no policy engine): fast enough to run
// on every request and easy to read in one sitting.
//
// House rules: deny by default; a permission names a resource type and an
// action, scoped to everything ("site"), the subject's organizations ("org")
// or objects the subject owns ("owner"). Handlers ask Authorize for each
// object they touch; a read that is refused is answered 404 by the caller, so
// the object's existence does not leak.
package rbac

import (
	"slices"

	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

// Action is what a subject wants to do.
type Action string

// Actions.
const (
	ActionCreate Action = "create"
	ActionRead   Action = "read"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
	// ActionAssignRole grants or revokes roles.
	ActionAssignRole Action = "assign_role"
	// ActionUse is using a template to create workspaces.
	ActionUse Action = "use"
	// ActionSSH is connecting to a workspace's agents.
	ActionSSH Action = "ssh"
)

// ResourceType names a kind of object.
type ResourceType string

// Resource types.
const (
	ResourceUser            ResourceType = "user"
	ResourceAPIKey          ResourceType = "api_key"
	ResourceOrganization    ResourceType = "organization"
	ResourceAuditLog        ResourceType = "audit_log"
	ResourceTemplate        ResourceType = "template"
	ResourceFile            ResourceType = "file"
	ResourceWorkspace       ResourceType = "workspace"
	ResourceProvisioner     ResourceType = "provisioner_daemon"
	ResourceProvisionerJobs ResourceType = "provisioner_jobs"
	ResourceDeployment      ResourceType = "deployment_config"
)

// Object is what an action is about.
type Object struct {
	Type ResourceType
	// OwnerID is the owning user, when the object has one.
	OwnerID uuid.UUID
	// OrgID is the organization, when the object belongs to one.
	OrgID uuid.UUID
}

// Subject is who acts.
type Subject struct {
	ID    uuid.UUID
	Roles []string
	// OrgIDs are the organizations the subject is a member of.
	OrgIDs []uuid.UUID
}

type scope int

const (
	scopeOwner scope = iota // objects the subject owns
	scopeOrg                // objects in the subject's organizations
	scopeSite               // everything
)

type permission struct {
	typ     ResourceType // "*" = any
	actions []Action     // nil = any
	scope   scope
}

var all = ResourceType("*")

// roles is the permission table. Every role also has member's permissions.
var roles = map[string][]permission{
	codersdk.RoleOwner: {{typ: all, scope: scopeSite}},
	codersdk.RoleMember: {
		{typ: ResourceUser, actions: []Action{ActionRead, ActionUpdate}, scope: scopeOwner},
		{typ: ResourceAPIKey, scope: scopeOwner},
		{typ: ResourceWorkspace, scope: scopeOwner},
		{typ: ResourceOrganization, actions: []Action{ActionRead}, scope: scopeOrg},
		{typ: ResourceTemplate, actions: []Action{ActionRead, ActionUse}, scope: scopeOrg},
		{typ: ResourceFile, actions: []Action{ActionCreate}, scope: scopeOwner},
	},
	codersdk.RoleUserAdmin: {
		{typ: ResourceUser, scope: scopeSite},
		{typ: ResourceOrganization, actions: []Action{ActionRead}, scope: scopeSite},
	},
	codersdk.RoleTemplateAdmin: {
		{typ: ResourceTemplate, scope: scopeSite},
		{typ: ResourceFile, scope: scopeSite},
		{typ: ResourceProvisioner, scope: scopeSite},
		{typ: ResourceProvisionerJobs, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceWorkspace, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceUser, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceOrganization, actions: []Action{ActionRead}, scope: scopeSite},
	},
	codersdk.RoleAuditor: {
		{typ: ResourceAuditLog, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceUser, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceTemplate, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceOrganization, actions: []Action{ActionRead}, scope: scopeSite},
		{typ: ResourceDeployment, actions: []Action{ActionRead}, scope: scopeSite},
	},
}

// SiteRoles lists the assignable site roles (member is implicit) with their
// display names, in a stable order.
func SiteRoles() []codersdk.SlimRole {
	return []codersdk.SlimRole{
		{Name: codersdk.RoleOwner, DisplayName: "Owner"},
		{Name: codersdk.RoleUserAdmin, DisplayName: "User Admin"},
		{Name: codersdk.RoleTemplateAdmin, DisplayName: "Template Admin"},
		{Name: codersdk.RoleAuditor, DisplayName: "Auditor"},
	}
}

// IsSiteRole reports whether name is an assignable site role.
func IsSiteRole(name string) bool {
	return slices.ContainsFunc(SiteRoles(), func(r codersdk.SlimRole) bool { return r.Name == name })
}

// CanAssign reports whether a subject holding actorRoles may grant or
// revoke role: owners may assign any role, user admins any but owner.
func CanAssign(actorRoles []string, role string) bool {
	if slices.Contains(actorRoles, codersdk.RoleOwner) {
		return true
	}
	return slices.Contains(actorRoles, codersdk.RoleUserAdmin) && role != codersdk.RoleOwner
}

// Authorize reports whether s may perform action on obj.
func Authorize(s Subject, action Action, obj Object) bool {
	check := func(perms []permission) bool {
		for _, p := range perms {
			if p.typ != all && p.typ != obj.Type {
				continue
			}
			if p.actions != nil && !slices.Contains(p.actions, action) {
				continue
			}
			switch p.scope {
			case scopeSite:
				return true
			case scopeOrg:
				if obj.OrgID != uuid.Nil && slices.Contains(s.OrgIDs, obj.OrgID) {
					return true
				}
			case scopeOwner:
				// Owning an object in an organization also takes membership
				// of that organization.
				if obj.OwnerID != uuid.Nil && obj.OwnerID == s.ID && (obj.OrgID == uuid.Nil || slices.Contains(s.OrgIDs, obj.OrgID)) {
					return true
				}
			}
		}
		return false
	}
	if check(roles[codersdk.RoleMember]) {
		return true
	}
	for _, r := range s.Roles {
		if r == codersdk.RoleMember {
			continue
		}
		if check(roles[r]) {
			return true
		}
	}
	return false
}
