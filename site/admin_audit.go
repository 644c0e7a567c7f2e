package site

import (
	"net/http"
	"strings"

	"github.com/opencoder/coder/codersdk"
)

// adminAuditLimit is how many entries one page of the audit log shows.
const adminAuditLimit = 50

// auditActions are the actions the filter offers (the API's).
var auditActions = []codersdk.AuditAction{
	codersdk.AuditActionCreate, codersdk.AuditActionWrite, codersdk.AuditActionDelete,
	codersdk.AuditActionLogin, codersdk.AuditActionLogout, codersdk.AuditActionRegister,
}

// auditResourceTypes are the resource types coderd audits, offered as
// suggestions; the filter takes any text.
var auditResourceTypes = []string{"user", "api_key", "organization", "template", "template_version", "workspace", "workspace_build", "provisioner_key"}

type adminAuditData struct {
	Tab     adminTab
	Logs    []codersdk.AuditLog
	Pages   pageLinks
	Actions []codersdk.AuditAction
	Types   []string
	// The filter as submitted (the API's query supports action and
	// resource type).
	Action       string
	ResourceType string
}

func (s *Site) adminAuditPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	data := adminAuditData{
		Tab: "audit", Actions: auditActions, Types: auditResourceTypes,
		Action: strings.TrimSpace(q.Get("action")), ResourceType: strings.TrimSpace(q.Get("resource_type")),
	}
	v := view{Title: "Audit log", FieldErrors: map[string]string{}}
	status := http.StatusOK
	offset, bad := parseOffset(q.Get("offset"))
	if bad != "" {
		v.FieldErrors["offset"] = bad
		status = http.StatusBadRequest
	}
	res, err := s.client(currentUser(r.Context()).Token).AuditLogs(r.Context(), codersdk.AuditLogsRequest{
		Action: codersdk.AuditAction(data.Action), ResourceType: data.ResourceType, Limit: adminAuditLimit, Offset: offset,
	})
	if err != nil {
		msg, fields := fieldErrors(err)
		if isAPIRefusal(err) || len(fields) == 0 {
			s.renderAPIError(w, r, err)
			return
		}
		for k, f := range fields {
			v.FieldErrors[k] = f
		}
		v.Error = msg
		status = apiStatus(err, http.StatusBadRequest)
	} else {
		data.Logs = res.AuditLogs
		base := map[string][]string{"action": {data.Action}, "resource_type": {data.ResourceType}}
		data.Pages = paginate("/admin/audit", base, offset, adminAuditLimit, len(res.AuditLogs), res.Count)
	}
	v.Data = data
	s.render(w, r, status, "admin_audit", v)
}
