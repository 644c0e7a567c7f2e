package rbac_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

func TestAuthorize(t *testing.T) {
	t.Parallel()
	me, other, org, otherOrg := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	subject := func(roles ...string) rbac.Subject {
		return rbac.Subject{ID: me, Roles: roles, OrgIDs: []uuid.UUID{org}}
	}
	cases := []struct {
		name   string
		s      rbac.Subject
		action rbac.Action
		obj    rbac.Object
		want   bool
	}{
		{"member reads self", subject(), rbac.ActionRead, rbac.Object{Type: rbac.ResourceUser, OwnerID: me}, true},
		{"member reads other", subject(), rbac.ActionRead, rbac.Object{Type: rbac.ResourceUser, OwnerID: other}, false},
		{"member creates user", subject(), rbac.ActionCreate, rbac.Object{Type: rbac.ResourceUser}, false},
		{"member own token", subject(), rbac.ActionDelete, rbac.Object{Type: rbac.ResourceAPIKey, OwnerID: me}, true},
		{"member other token", subject(), rbac.ActionRead, rbac.Object{Type: rbac.ResourceAPIKey, OwnerID: other}, false},
		{"member reads own org", subject(), rbac.ActionRead, rbac.Object{Type: rbac.ResourceOrganization, OrgID: org}, true},
		{"member reads other org", subject(), rbac.ActionRead, rbac.Object{Type: rbac.ResourceOrganization, OrgID: otherOrg}, false},
		{"member audit", subject(), rbac.ActionRead, rbac.Object{Type: rbac.ResourceAuditLog}, false},
		{"owner anything", subject(codersdk.RoleOwner), rbac.ActionDelete, rbac.Object{Type: rbac.ResourceAPIKey, OwnerID: other}, true},
		{"user-admin creates user", subject(codersdk.RoleUserAdmin), rbac.ActionCreate, rbac.Object{Type: rbac.ResourceUser}, true},
		{"user-admin audit", subject(codersdk.RoleUserAdmin), rbac.ActionRead, rbac.Object{Type: rbac.ResourceAuditLog}, false},
		{"auditor audit", subject(codersdk.RoleAuditor), rbac.ActionRead, rbac.Object{Type: rbac.ResourceAuditLog}, true},
		{"auditor creates user", subject(codersdk.RoleAuditor), rbac.ActionCreate, rbac.Object{Type: rbac.ResourceUser}, false},
		{"template-admin template", subject(codersdk.RoleTemplateAdmin), rbac.ActionDelete, rbac.Object{Type: rbac.ResourceTemplate, OrgID: org}, true},
		{"member own workspace in own org", subject(), rbac.ActionCreate, rbac.Object{Type: rbac.ResourceWorkspace, OwnerID: me, OrgID: org}, true},
		{"member own workspace in other org", subject(), rbac.ActionCreate, rbac.Object{Type: rbac.ResourceWorkspace, OwnerID: me, OrgID: otherOrg}, false},
		{"unknown role adds nothing", subject("bogus"), rbac.ActionCreate, rbac.Object{Type: rbac.ResourceUser}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, rbac.Authorize(c.s, c.action, c.obj))
		})
	}
}

func TestCanAssign(t *testing.T) {
	t.Parallel()
	require.True(t, rbac.CanAssign([]string{codersdk.RoleOwner}, codersdk.RoleOwner))
	require.True(t, rbac.CanAssign([]string{codersdk.RoleUserAdmin}, codersdk.RoleAuditor))
	require.False(t, rbac.CanAssign([]string{codersdk.RoleUserAdmin}, codersdk.RoleOwner))
	require.False(t, rbac.CanAssign([]string{codersdk.RoleAuditor}, codersdk.RoleAuditor))
}

func BenchmarkAuthorize(b *testing.B) {
	s := rbac.Subject{ID: uuid.New(), Roles: []string{codersdk.RoleAuditor, codersdk.RoleTemplateAdmin}}
	obj := rbac.Object{Type: rbac.ResourceUser, OwnerID: uuid.New()}
	for b.Loop() {
		rbac.Authorize(s, rbac.ActionRead, obj)
	}
}
