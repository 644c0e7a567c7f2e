package coderd

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// validTTL checks an autostop ttl in milliseconds: 0 (none) or between
// codersdk.MinTTL and codersdk.MaxTTL.
func validTTL(v *httpapi.Validator, field string, ms int64) {
	switch d := time.Duration(ms) * time.Millisecond; {
	case ms < 0:
		v.Add(field, "must not be negative (0 turns autostop off)")
	case ms == 0:
	case d < codersdk.MinTTL:
		v.Add(field, "must be at least %s (0 turns autostop off)", codersdk.MinTTL)
	case ms > codersdk.MaxTTL.Milliseconds():
		v.Add(field, "must be at most %s (30 days)", codersdk.MaxTTL)
	}
}

// nonZero is &ms, or nil for 0: "no autostop" has one stored form.
func nonZero(ms int64) *int64 {
	if ms == 0 {
		return nil
	}
	return &ms
}

func derefTTL(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// scheduleTarget is the workspace a schedule change names, once the caller
// may update it (403 otherwise) and it is not deleted (410).
func scheduleTarget(w http.ResponseWriter, r *http.Request) (database.Workspace, bool) {
	actor, _ := httpmw.ActorFrom(r.Context())
	ws := workspaceParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionUpdate, workspaceObject(ws)) {
		httpapi.Forbidden(w)
		return ws, false
	}
	if ws.Deleted {
		httpapi.Error(w, http.StatusGone, "The workspace was deleted.")
		return ws, false
	}
	return ws, true
}

// putWorkspaceTTL sets a workspace's autostop ttl and moves its running
// build's deadline with it (PUT /workspaces/{workspace}/ttl): whoever may
// update the workspace (its owner, template admins, owners).
func (api *API) putWorkspaceTTL(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws, ok := scheduleTarget(w, r)
	if !ok {
		return
	}
	var req codersdk.UpdateWorkspaceTTLRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	if req.TTLMillis != nil {
		validTTL(&v, "ttl_ms", *req.TTLMillis)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid autostop ttl.", v.Errors())
		return
	}
	ttl := nonZero(derefTTL(req.TTLMillis))
	var deadline *time.Time
	err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		var err error
		_, deadline, err = tx.UpdateWorkspaceTTL(ctx, ws.ID, ttl, api.now())
		return err
	})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "update workspace ttl", err)
		return
	}
	diff := map[string]any{}
	if old, next := derefTTL(ws.TTLMillis), derefTTL(ttl); old != next {
		diff["ttl_ms"] = map[string]any{"old": old, "new": next}
	}
	api.audit(r, auditEntry{ResourceType: "workspace", ResourceID: &ws.ID, Target: ws.Name, Action: codersdk.AuditActionWrite, Status: http.StatusNoContent,
		Diff: diff, Fields: map[string]any{"deadline": deadline}})
	w.WriteHeader(http.StatusNoContent)
}

// putExtendWorkspace moves a running workspace's next autostop (PUT
// /workspaces/{workspace}/extend): at least codersdk.MinExtension from now,
// at most codersdk.MaxTTL; the ttl itself is unchanged, and activity can
// still push the deadline later, never earlier.
func (api *API) putExtendWorkspace(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ws, ok := scheduleTarget(w, r)
	if !ok {
		return
	}
	var req codersdk.PutExtendWorkspaceRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	now := api.now()
	var v httpapi.Validator
	switch {
	case req.Deadline.IsZero():
		v.Add("deadline", "is required")
	case req.Deadline.Before(now.Add(codersdk.MinExtension)):
		v.Add("deadline", "must be at least %s from now", codersdk.MinExtension)
	case req.Deadline.After(now.Add(codersdk.MaxTTL)):
		v.Add("deadline", "must be at most %s (30 days) from now", codersdk.MaxTTL)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid deadline.", v.Errors())
		return
	}
	deadline := req.Deadline.UTC().Truncate(time.Microsecond)
	ok, err := api.opts.DB.ExtendWorkspaceDeadline(ctx, ws.ID, deadline, now)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "extend workspace deadline", err)
		return
	}
	if !ok {
		httpapi.Error(w, http.StatusConflict, "The workspace has no stop to extend.",
			"It is not running, or runs until stopped by hand (no autostop): set an autostop duration with PUT /ttl (coder schedule stop).")
		return
	}
	api.audit(r, auditEntry{ResourceType: "workspace", ResourceID: &ws.ID, Target: ws.Name, Action: codersdk.AuditActionWrite, Status: http.StatusOK,
		Diff: map[string]any{"deadline": map[string]any{"new": deadline}}})
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "The workspace now stops at " + deadline.Format(time.RFC3339) + "."})
}

// queueAutostop is the lifecycle executor's way of making a stop build:
// the same as a user's, on the running version, by the workspace's owner,
// with reason autostop.
func (api *API) queueAutostop(ctx context.Context, tx *database.Store, ws database.Workspace, latest database.WorkspaceBuild) (database.WorkspaceBuild, error) {
	version, err := tx.GetTemplateVersionByID(ctx, latest.TemplateVersionID)
	if err != nil {
		return database.WorkspaceBuild{}, err
	}
	params, err := tx.GetWorkspaceBuildParameters(ctx, latest.ID)
	if err != nil {
		return database.WorkspaceBuild{}, err
	}
	return api.queueBuild(ctx, tx, ws, version, codersdk.WorkspaceTransitionStop, latest.BuildNumber+1, ws.OwnerID, codersdk.BuildReasonAutostop, params)
}

// auditAutostop records an autostop like a user's build, with no actor
// request: the system acted on the owner's behalf.
func (api *API) auditAutostop(ctx context.Context, ws database.Workspace, stop database.WorkspaceBuild, deadline time.Time) {
	diff, _ := json.Marshal(map[string]any{"transition": codersdk.WorkspaceTransitionStop, "reason": codersdk.BuildReasonAutostop})
	fields, _ := json.Marshal(map[string]any{"deadline": deadline, "build_number": stop.BuildNumber})
	wctx, cancel := api.detached(ctx)
	defer cancel()
	err := api.opts.DB.InsertAuditLog(wctx, database.AuditLog{
		ID: uuid.New(), Time: api.now(), UserID: &ws.OwnerID, OrganizationID: &ws.OrganizationID, UserAgent: "coderd autostop",
		ResourceType: "workspace_build", ResourceID: &stop.ID, ResourceTarget: ws.Name, Action: string(codersdk.AuditActionCreate),
		Diff: diff, StatusCode: http.StatusCreated, AdditionalFields: fields,
	})
	if err != nil {
		api.opts.Logger.ErrorContext(ctx, "write autostop audit log", "workspace_id", ws.ID, "error", err)
	}
}

// bumpActivity records that a workspace is in use: its last_used_at, and
// its running build's deadline pushed to now + its ttl (one statement,
// a no-op within a minute of the last bump). Errors are logged: activity
// is best effort and must never fail the request that reports it.
func (api *API) bumpActivity(ctx context.Context, workspaceID uuid.UUID) {
	if _, err := api.opts.DB.BumpWorkspaceActivity(ctx, workspaceID, api.now()); err != nil && ctx.Err() == nil {
		api.opts.Logger.WarnContext(ctx, "bump workspace activity", "workspace_id", workspaceID, "error", err)
	}
}

// keepActive bumps a workspace's activity now and every minute until ctx
// ends or the returned stop is called (which waits for the loop): coderd's
// own long connections to a workspace, like the web terminal, keep it
// from being stopped while they are open.
func (api *API) keepActive(ctx context.Context, workspaceID uuid.UUID) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			api.bumpActivity(ctx, workspaceID)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
