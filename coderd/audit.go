package coderd

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

type auditEntry struct {
	// UserID is who acted; the request's actor when nil.
	UserID       *uuid.UUID
	ResourceType string
	ResourceID   *uuid.UUID
	Target       string
	Action       codersdk.AuditAction
	Status       int
	Diff         map[string]any
	Fields       map[string]any
}

// audit appends an entry. A failure is logged, never surfaced: the action
// itself already happened.
func (api *API) audit(r *http.Request, e auditEntry) {
	ctx := r.Context()
	uid := e.UserID
	if uid == nil {
		if a, ok := httpmw.ActorFrom(ctx); ok {
			uid = &a.User.ID
		}
	}
	diff, _ := json.Marshal(e.Diff)
	fields, _ := json.Marshal(e.Fields)
	reqID := httpmw.RequestIDFrom(ctx)
	wctx, cancel := api.detached(ctx)
	defer cancel()
	err := api.opts.DB.InsertAuditLog(wctx, database.AuditLog{
		ID: uuid.New(), Time: api.now(), UserID: uid, IP: httpmw.RemoteIP(r), UserAgent: r.UserAgent(),
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, ResourceTarget: e.Target, Action: string(e.Action),
		Diff: diff, StatusCode: int32(e.Status), AdditionalFields: fields, RequestID: &reqID,
	})
	if err != nil {
		api.opts.Logger.ErrorContext(ctx, "write audit log", "action", e.Action, "resource_type", e.ResourceType, "error", err)
	}
}

func (api *API) auditLogs(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceAuditLog}) {
		httpapi.ResourceNotFound(w)
		return
	}
	limit, offset, ok := pagination(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	rows, count, err := api.opts.DB.GetAuditLogs(r.Context(), database.AuditLogsFilter{
		ResourceType: q.Get("resource_type"), Action: q.Get("action"), Limit: limit, Offset: offset,
	})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "list audit logs", err)
		return
	}
	users := map[uuid.UUID]*codersdk.User{}
	out := codersdk.AuditLogResponse{AuditLogs: make([]codersdk.AuditLog, 0, len(rows)), Count: count}
	for _, a := range rows {
		entry := codersdk.AuditLog{
			ID: a.ID, Time: a.Time, UserAgent: a.UserAgent, ResourceType: a.ResourceType, ResourceTarget: a.ResourceTarget,
			Action: codersdk.AuditAction(a.Action), Diff: a.Diff, StatusCode: a.StatusCode, AdditionalFields: a.AdditionalFields,
		}
		if a.RequestID != nil {
			entry.RequestID = *a.RequestID
		}
		if a.ResourceID != nil {
			entry.ResourceID = *a.ResourceID
		}
		if a.OrganizationID != nil {
			entry.OrganizationID = *a.OrganizationID
		}
		if a.IP != nil {
			entry.IP = a.IP.String()
		}
		if a.UserID != nil {
			u, seen := users[*a.UserID]
			if !seen {
				dbu, err := api.opts.DB.GetUserByID(r.Context(), *a.UserID)
				switch {
				case err == nil:
					conv := api.convertUser(r.Context(), dbu)
					u = &conv
				case !errors.Is(err, database.ErrNotFound):
					httpapi.InternalError(w, r, api.opts.Logger, "get audit log user", err)
					return
				}
				users[*a.UserID] = u
			}
			entry.User = u
		}
		out.AuditLogs = append(out.AuditLogs, entry)
	}
	httpapi.Write(w, http.StatusOK, out)
}
