package coderd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// Limits on what a daemon may send in one update.
const (
	maxLogsPerUpdate = 10000
	maxLogLineBytes  = 64 << 10
	maxErrorBytes    = 16 << 10
)

func (api *API) acquireJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := daemonFrom(ctx)
	var req codersdk.AcquireJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	if req.DaemonID == uuid.Nil {
		v.Add("daemon_id", "is required")
	}
	v.Text("name", req.Name, 128)
	v.Text("version", req.Version, 64)
	if len(req.Provisioners) == 0 {
		req.Provisioners = []string{"terraform"}
	}
	for i, p := range req.Provisioners {
		if p != "terraform" {
			v.Add(fmt.Sprintf("provisioners[%d]", i), "unsupported provisioner %q (only terraform)", p)
		}
	}
	if req.WaitSeconds < 0 || req.WaitSeconds > 300 {
		v.Add("wait_seconds", "must be between 0 and 300")
	}
	tags, tagErrs := validateTags("tags", req.Tags)
	for _, e := range tagErrs {
		v.Add(e.Field, "%s", e.Detail)
	}
	if d.KeyTags != nil {
		if len(req.Tags) > 0 && !maps.Equal(tags, d.KeyTags) {
			v.Add("tags", "a daemon using a provisioner key takes the key's tags; drop --tag or create a key with these tags")
		}
		tags = d.KeyTags
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid acquire request.", v.Errors())
		return
	}
	name := req.Name
	if name == "" {
		name = req.DaemonID.String()[:8]
	}
	err := api.opts.DB.UpsertProvisionerDaemon(ctx, database.ProvisionerDaemon{
		ID: req.DaemonID, OrganizationID: d.OrgID, Name: name, Provisioners: req.Provisioners, Tags: tags, KeyID: d.KeyID,
		Version: req.Version, APIVersion: codersdk.ProvisionerAPIVersion, LastSeenAt: api.now(),
	})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "register daemon", err)
		return
	}
	// Register for wake-ups before the first look, so a job queued in
	// between is never missed.
	wake, done := api.acquirer.wait(d.OrgID)
	defer done()
	timeout := time.NewTimer(time.Duration(req.WaitSeconds) * time.Second)
	defer timeout.Stop()
	poll := time.NewTicker(api.opts.AcquirePollInterval)
	defer poll.Stop()
	for {
		job, err := api.opts.DB.AcquireProvisionerJob(ctx, d.OrgID, req.DaemonID, req.Provisioners, tags, api.now())
		switch {
		case err == nil:
			if ctx.Err() != nil {
				// The daemon hung up (shutdown) as we took the job: put it
				// back rather than leave it for the reaper.
				api.releaseJob(ctx, job, req.DaemonID)
				return
			}
			payload, err := api.acquiredJob(ctx, job)
			if err != nil {
				api.opts.Logger.ErrorContext(ctx, "prepare acquired job; failing it", "job_id", job.ID, "error", err)
				if ferr := api.failJobInternal(ctx, job, "Coder could not prepare the job: "+err.Error(), codersdk.JobErrorCodeInternal); ferr != nil {
					api.opts.Logger.ErrorContext(ctx, "fail unpreparable job", "job_id", job.ID, "error", ferr)
				}
				continue
			}
			api.opts.Logger.DebugContext(ctx, "job acquired", "job_id", job.ID, "daemon", name, "queued_for", api.now().Sub(job.CreatedAt))
			httpapi.Write(w, http.StatusOK, payload)
			return
		case !errors.Is(err, database.ErrNotFound):
			httpapi.InternalError(w, r, api.opts.Logger, "acquire job", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timeout.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-wake:
		case <-poll.C:
		}
	}
}

// acquiredJob gathers everything the daemon needs to run a job.
func (api *API) acquiredJob(ctx context.Context, job database.ProvisionerJob) (*codersdk.AcquiredJob, error) {
	file, err := api.opts.DB.GetFileByID(ctx, job.FileID)
	if err != nil {
		return nil, fmt.Errorf("get template file: %w", err)
	}
	out := &codersdk.AcquiredJob{
		JobID: job.ID, CreatedAt: job.CreatedAt, Type: codersdk.ProvisionerJobType(job.Type), OrganizationID: job.OrganizationID,
		Provisioner: job.Provisioner, TemplateSourceArchive: file.Data,
	}
	initiator, err := api.opts.DB.GetUserByID(ctx, job.InitiatorID)
	if err != nil {
		return nil, fmt.Errorf("get initiator: %w", err)
	}
	switch codersdk.ProvisionerJobType(job.Type) {
	case codersdk.ProvisionerJobTypeTemplateVersionImport:
		version, err := api.opts.DB.GetTemplateVersionByJobID(ctx, job.ID)
		if err != nil {
			return nil, fmt.Errorf("get template version: %w", err)
		}
		md := api.baseMetadata(initiator, "start")
		md.WorkspaceName = "import"
		md.WorkspaceID = uuid.NewString()
		md.WorkspaceBuildID = uuid.NewString()
		md.TemplateVersion = version.Name
		// The coder provider insists on a template identity even for an
		// import; a version not yet attached to a template gets a stand-in.
		md.TemplateID, md.TemplateName = uuid.NewString(), "import"
		if version.TemplateID != nil {
			t, err := api.opts.DB.GetTemplateByID(ctx, *version.TemplateID)
			switch {
			case err == nil:
				md.TemplateID, md.TemplateName = t.ID.String(), t.Name
			case !errors.Is(err, database.ErrNotFound):
				return nil, fmt.Errorf("get template: %w", err)
			}
		}
		out.TemplateImport = &codersdk.AcquiredTemplateImport{Metadata: md}
	case codersdk.ProvisionerJobTypeWorkspaceBuild:
		wb, err := api.workspaceBuildInput(ctx, job)
		if err != nil {
			return nil, err
		}
		out.WorkspaceBuild = wb
	default:
		return nil, fmt.Errorf("unknown job type %q", job.Type)
	}
	return out, nil
}

func (api *API) baseMetadata(owner database.User, transition string) codersdk.ProvisionerMetadata {
	roles := []codersdk.RBACRoleRef{{Name: codersdk.RoleMember}}
	for _, r := range owner.RBACRoles {
		roles = append(roles, codersdk.RBACRoleRef{Name: r})
	}
	return codersdk.ProvisionerMetadata{
		AccessURL: api.opts.AccessURL.String(), WorkspaceTransition: transition,
		WorkspaceOwner: owner.Username, WorkspaceOwnerID: owner.ID.String(), WorkspaceOwnerName: owner.Name,
		WorkspaceOwnerEmail: owner.Email, OwnerLoginType: owner.LoginType, OwnerGroups: []string{}, OwnerRBACRoles: roles,
		AgentScripts: AgentInitScripts(),
	}
}

func (api *API) workspaceBuildInput(ctx context.Context, job database.ProvisionerJob) (*codersdk.AcquiredWorkspaceBuild, error) {
	build, err := api.opts.DB.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		return nil, fmt.Errorf("get build: %w", err)
	}
	ws, err := api.opts.DB.GetWorkspaceByID(ctx, build.WorkspaceID)
	if err != nil {
		return nil, fmt.Errorf("get workspace: %w", err)
	}
	owner, err := api.opts.DB.GetUserByID(ctx, ws.OwnerID)
	if err != nil {
		return nil, fmt.Errorf("get owner: %w", err)
	}
	tmpl, err := api.opts.DB.GetTemplateByID(ctx, ws.TemplateID)
	if err != nil {
		return nil, fmt.Errorf("get template: %w", err)
	}
	version, err := api.opts.DB.GetTemplateVersionByID(ctx, build.TemplateVersionID)
	if err != nil {
		return nil, fmt.Errorf("get template version: %w", err)
	}
	state, err := api.opts.DB.GetLastStateBefore(ctx, ws.ID, build.BuildNumber)
	if err != nil {
		return nil, fmt.Errorf("get previous state: %w", err)
	}
	params, err := api.opts.DB.GetWorkspaceBuildParameters(ctx, build.ID)
	if err != nil {
		return nil, fmt.Errorf("get build parameters: %w", err)
	}
	var prev []database.WorkspaceBuildParameter
	if build.BuildNumber > 1 {
		pb, err := api.opts.DB.GetWorkspaceBuildByNumber(ctx, ws.ID, build.BuildNumber-1)
		switch {
		case err == nil:
			if prev, err = api.opts.DB.GetWorkspaceBuildParameters(ctx, pb.ID); err != nil {
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
	md := api.baseMetadata(owner, transition)
	md.WorkspaceName, md.WorkspaceID, md.WorkspaceBuildID = ws.Name, ws.ID.String(), build.ID.String()
	md.TemplateID, md.TemplateName, md.TemplateVersion = tmpl.ID.String(), tmpl.Name, version.Name
	if transition == "start" {
		token, err := api.ownerWorkspaceToken(ctx, owner.ID, ws.ID)
		if err != nil {
			return nil, fmt.Errorf("issue owner token: %w", err)
		}
		md.OwnerSessionToken = token
	} else if err := deleteOwnerWorkspaceToken(ctx, api.opts.DB, owner.ID, ws.ID); err != nil {
		return nil, err
	}
	return &codersdk.AcquiredWorkspaceBuild{
		WorkspaceBuildID: build.ID, WorkspaceName: ws.Name, State: state,
		Parameters: sdkParams(params), PreviousParameters: sdkParams(prev), Metadata: md,
	}, nil
}

func sdkParams(ps []database.WorkspaceBuildParameter) []codersdk.WorkspaceBuildParameter {
	out := make([]codersdk.WorkspaceBuildParameter, 0, len(ps))
	for _, p := range ps {
		out = append(out, codersdk.WorkspaceBuildParameter{Name: p.Name, Value: p.Value})
	}
	return out
}

// workerJob parses {job} and checks the request names a daemon and that
// the job is in the caller's organization: a daemon authenticated for
// another organization (its provisioner key) finds it missing.
func (api *API) workerJob(w http.ResponseWriter, r *http.Request, daemonID uuid.UUID) (uuid.UUID, bool) {
	id, err := uuid.Parse(chi.URLParam(r, "job"))
	if err != nil {
		httpapi.ResourceNotFound(w)
		return uuid.Nil, false
	}
	if daemonID == uuid.Nil {
		httpapi.Validation(w, "Invalid request.", []codersdk.ValidationError{{Field: "daemon_id", Detail: "is required"}})
		return uuid.Nil, false
	}
	job, err := api.opts.DB.GetProvisionerJobByID(r.Context(), id)
	if errors.Is(err, database.ErrNotFound) || (err == nil && job.OrganizationID != daemonFrom(r.Context()).OrgID) {
		httpapi.ResourceNotFound(w)
		return uuid.Nil, false
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get job", err)
		return uuid.Nil, false
	}
	return id, true
}

func (api *API) updateJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req codersdk.UpdateJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	jobID, ok := api.workerJob(w, r, req.DaemonID)
	if !ok {
		return
	}
	if len(req.Logs) > maxLogsPerUpdate {
		httpapi.Validation(w, "Too many log lines.", []codersdk.ValidationError{{Field: "logs", Detail: fmt.Sprintf("at most %d per update", maxLogsPerUpdate)}})
		return
	}
	logs := make([]database.ProvisionerJobLog, 0, len(req.Logs))
	for i, l := range req.Logs {
		switch l.Level {
		case codersdk.ProvisionerLogLevelTrace, codersdk.ProvisionerLogLevelDebug, codersdk.ProvisionerLogLevelInfo, codersdk.ProvisionerLogLevelWarn, codersdk.ProvisionerLogLevelError:
		case "":
			l.Level = codersdk.ProvisionerLogLevelInfo
		default:
			httpapi.Validation(w, "Invalid log line.", []codersdk.ValidationError{{Field: fmt.Sprintf("logs[%d].level", i), Detail: "unknown level " + string(l.Level)}})
			return
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt = api.now()
		}
		source := codersdk.LogSourceProvisioner
		if l.Source == codersdk.LogSourceProvisionerDaemon {
			source = codersdk.LogSourceProvisionerDaemon
		}
		logs = append(logs, database.ProvisionerJobLog{CreatedAt: l.CreatedAt, Source: string(source),
			Level: string(l.Level), Stage: truncate(noNUL(l.Stage), 128), Output: truncate(noNUL(l.Output), maxLogLineBytes)})
	}
	canceled, err := api.opts.DB.HeartbeatProvisionerJob(ctx, jobID, req.DaemonID, api.now())
	if errors.Is(err, database.ErrNotFound) {
		httpapi.Error(w, http.StatusConflict, "This job is not running on this daemon.", "It ended, was reaped after missed heartbeats, or belongs to another daemon: stop working on it.")
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "heartbeat job", err)
		return
	}
	if err := api.opts.DB.TouchProvisionerDaemon(ctx, req.DaemonID, api.now()); err != nil {
		// The heartbeat is recorded; only the daemon list's "last seen" is stale.
		api.opts.Logger.WarnContext(ctx, "touch provisioner daemon", "daemon_id", req.DaemonID, "error", err)
	}
	if len(logs) > 0 {
		if err := api.opts.DB.InsertProvisionerJobLogs(ctx, jobID, logs); err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "store logs", err)
			return
		}
		api.publishJobLogs(ctx, jobID)
	}
	httpapi.Write(w, http.StatusOK, codersdk.UpdateJobResponse{Canceled: canceled})
}

// noNUL replaces NUL characters, which PostgreSQL text cannot hold, in
// program output (log lines, error messages): kept, not refused, since
// the program that printed them cannot be asked to try again.
func noNUL(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// hasNUL reports whether a string or object key in v's JSON form holds a
// NUL character, which PostgreSQL text and jsonb cannot store.
func hasNUL(v any) bool {
	b, err := json.Marshal(v)
	if err != nil || !bytes.Contains(b, []byte(`\u0000`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return true
		}
	}
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(truncated)"
}

func (api *API) completeJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req codersdk.CompleteJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	jobID, ok := api.workerJob(w, r, req.DaemonID)
	if !ok {
		return
	}
	// A result is refused whole, naming the part at fault, rather than
	// failing in the database.
	for _, part := range []struct {
		field string
		value any
	}{{"template_import", req.TemplateImport}, {"workspace_build", req.WorkspaceBuild}} {
		if hasNUL(part.value) {
			httpapi.Validation(w, "Invalid job result.", []codersdk.ValidationError{{Field: part.field, Detail: "must not contain NUL characters"}})
			return
		}
	}
	var conflict, badShape string
	err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		job, err := tx.GetProvisionerJobByIDForUpdate(ctx, jobID)
		if err != nil {
			return err
		}
		if job.WorkerID == nil || *job.WorkerID != req.DaemonID || job.CompletedAt != nil {
			conflict = "This job is not running on this daemon."
			return nil
		}
		now := api.now()
		switch codersdk.ProvisionerJobType(job.Type) {
		case codersdk.ProvisionerJobTypeTemplateVersionImport:
			if req.TemplateImport == nil {
				badShape = "An import job must be completed with template_import."
				return nil
			}
			if err := api.storeImport(ctx, tx, job, req.TemplateImport, now); err != nil {
				return err
			}
		case codersdk.ProvisionerJobTypeWorkspaceBuild:
			if req.WorkspaceBuild == nil {
				badShape = "A build job must be completed with workspace_build."
				return nil
			}
			if err := api.storeBuild(ctx, tx, job, req.WorkspaceBuild, now); err != nil {
				return err
			}
		}
		_, err = tx.CompleteProvisionerJob(ctx, job.ID, nil, "", now)
		return err
	})
	if errors.Is(err, database.ErrNotFound) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "complete job", err)
		return
	}
	if conflict != "" {
		httpapi.Error(w, http.StatusConflict, conflict)
		return
	}
	if badShape != "" {
		httpapi.Error(w, http.StatusBadRequest, badShape)
		return
	}
	api.publishJobLogs(ctx, jobID)
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Job completed."})
}

func (api *API) failJob(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req codersdk.FailJobRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	jobID, ok := api.workerJob(w, r, req.DaemonID)
	if !ok {
		return
	}
	if req.Error == "" {
		req.Error = "The provisioner reported a failure without a message."
	}
	var conflict bool
	err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		job, err := tx.GetProvisionerJobByIDForUpdate(ctx, jobID)
		if err != nil {
			return err
		}
		if job.WorkerID == nil || *job.WorkerID != req.DaemonID || job.CompletedAt != nil {
			conflict = true
			return nil
		}
		return api.endJobWithError(ctx, tx, job, truncate(noNUL(req.Error), maxErrorBytes), truncate(noNUL(req.ErrorCode), 64), req.State)
	})
	if errors.Is(err, database.ErrNotFound) {
		httpapi.ResourceNotFound(w)
		return
	}
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "fail job", err)
		return
	}
	if conflict {
		httpapi.Error(w, http.StatusConflict, "This job is not running on this daemon.")
		return
	}
	api.publishJobLogs(ctx, jobID)
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Job failed."})
}

// endJobWithError completes a job as failed (or canceled), keeping the
// workspace's last good Terraform state when the build has none.
func (api *API) endJobWithError(ctx context.Context, tx *database.Store, job database.ProvisionerJob, msg, code string, state []byte) error {
	now := api.now()
	if codersdk.ProvisionerJobType(job.Type) == codersdk.ProvisionerJobTypeWorkspaceBuild {
		build, err := tx.GetWorkspaceBuildByJobID(ctx, job.ID)
		if err != nil {
			return err
		}
		if state == nil && build.ProvisionerState == nil {
			if state, err = tx.GetLastStateBefore(ctx, build.WorkspaceID, build.BuildNumber); err != nil {
				return err
			}
		}
		if state != nil {
			if err := tx.UpdateWorkspaceBuildState(ctx, build.ID, state, now); err != nil {
				return err
			}
		}
	}
	_, err := tx.CompleteProvisionerJob(ctx, job.ID, &msg, code, now)
	return err
}

// failJobInternal fails a job coderd itself could not hand out, with msg
// as its last log line and its error. The first failing statement's error
// is returned: after it PostgreSQL refuses the rest of the transaction.
func (api *API) failJobInternal(ctx context.Context, job database.ProvisionerJob, msg, code string) error {
	msg = truncate(noNUL(msg), maxErrorBytes)
	err := api.opts.DB.InTx(ctx, func(tx *database.Store) error {
		if err := tx.InsertProvisionerJobLogs(ctx, job.ID, []database.ProvisionerJobLog{{CreatedAt: api.now(), Source: string(codersdk.LogSourceProvisionerDaemon),
			Level: string(codersdk.ProvisionerLogLevelError), Stage: "Coder", Output: msg}}); err != nil {
			return fmt.Errorf("insert failure log: %w", err)
		}
		if err := api.endJobWithError(ctx, tx, job, msg, code, nil); err != nil {
			return fmt.Errorf("end job: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("fail job %s: %w", job.ID, err)
	}
	api.publishJobLogs(ctx, job.ID)
	return nil
}

// onJobEnded runs after a job ended outside a daemon (canceled while
// pending): keep the workspace's last good state.
func (api *API) onJobEnded(ctx context.Context, job database.ProvisionerJob) error {
	if codersdk.ProvisionerJobType(job.Type) != codersdk.ProvisionerJobTypeWorkspaceBuild {
		return nil
	}
	build, err := api.opts.DB.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		return fmt.Errorf("get build: %w", err)
	}
	if build.ProvisionerState != nil {
		return nil
	}
	st, err := api.opts.DB.GetLastStateBefore(ctx, build.WorkspaceID, build.BuildNumber)
	if err != nil {
		return fmt.Errorf("get previous state: %w", err)
	}
	if st == nil {
		return nil
	}
	if err := api.opts.DB.UpdateWorkspaceBuildState(ctx, build.ID, st, api.now()); err != nil {
		return fmt.Errorf("keep previous state: %w", err)
	}
	return nil
}

func (api *API) storeImport(ctx context.Context, tx *database.Store, job database.ProvisionerJob, res *codersdk.CompletedTemplateImport, now time.Time) error {
	version, err := tx.GetTemplateVersionByJobID(ctx, job.ID)
	if err != nil {
		return err
	}
	params := res.Parameters
	if params == nil {
		params = []codersdk.TemplateVersionParameter{}
	}
	slices.SortStableFunc(params, func(a, b codersdk.TemplateVersionParameter) int { return int(a.Order - b.Order) })
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	if err := tx.UpdateTemplateVersionImported(ctx, version.ID, raw, truncate(res.Readme, 1<<20), now); err != nil {
		return err
	}
	if err := insertResources(ctx, tx, job.ID, "start", res.StartResources, now); err != nil {
		return err
	}
	return insertResources(ctx, tx, job.ID, "stop", res.StopResources, now)
}

func (api *API) storeBuild(ctx context.Context, tx *database.Store, job database.ProvisionerJob, res *codersdk.CompletedWorkspaceBuild, now time.Time) error {
	build, err := tx.GetWorkspaceBuildByJobID(ctx, job.ID)
	if err != nil {
		return err
	}
	state := res.State
	if state == nil {
		state = []byte{}
	}
	if err := tx.UpdateWorkspaceBuildState(ctx, build.ID, state, now); err != nil {
		return err
	}
	if err := insertResources(ctx, tx, job.ID, build.Transition, res.Resources, now); err != nil {
		return err
	}
	if build.Transition == string(codersdk.WorkspaceTransitionDelete) {
		if err := tx.MarkWorkspaceDeleted(ctx, build.WorkspaceID, now); err != nil {
			return fmt.Errorf("mark workspace deleted: %w", err)
		}
		ws, err := tx.GetWorkspaceByID(ctx, build.WorkspaceID)
		if err != nil {
			return fmt.Errorf("get workspace: %w", err)
		}
		if err := deleteOwnerWorkspaceToken(ctx, tx, ws.OwnerID, ws.ID); err != nil {
			return err
		}
	}
	return nil
}

// releaseJob returns a job nobody received to the queue and wakes daemons.
// ctx has usually ended (the daemon hung up): the writes are detached.
func (api *API) releaseJob(ctx context.Context, job database.ProvisionerJob, daemonID uuid.UUID) {
	ctx, cancel := api.detached(ctx)
	defer cancel()
	if err := api.opts.DB.ReleaseProvisionerJob(ctx, job.ID, daemonID); err != nil {
		api.opts.Logger.WarnContext(ctx, "release unclaimed job", "job_id", job.ID, "error", err)
		return
	}
	if err := api.opts.Pubsub.Publish(ctx, database.ChannelJobPosted, []byte(job.OrganizationID.String())); err != nil {
		// Waiting daemons still find it at their next safety-net poll.
		api.opts.Logger.WarnContext(ctx, "announce released job", "job_id", job.ID, "error", err)
	}
}
