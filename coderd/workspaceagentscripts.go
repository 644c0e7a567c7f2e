package coderd

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/codersdk"
)

// Agent scripts: the agent reports each finished script run to
// POST /workspaceagents/me/script-completed; coderd keeps the latest run
// per (agent, script index) in workspace_agent_script_runs, and the agent,
// workspace and build answers list the scripts with it (one query for all
// agents of an answer), which `coder show`, the dashboard and `coder ssh
// --wait auto` read.

// postAgentScriptCompleted stores how a script run ended. The script is
// named by its index in the agent's spec (the manifest's order) and its
// display name as a check; the stage must be one the script runs at; an
// unknown status or a run that ends before it starts is refused. Each bad
// field is named in the 400.
func (api *API) postAgentScriptCompleted(w http.ResponseWriter, r *http.Request) {
	var req codersdk.PostAgentScriptCompletedRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	ac := agentFrom(r)
	spec, err := decodeAgentSpec(ac.Agent)
	if err != nil {
		api.writeStoredError(w, r, "decode agent spec", err)
		return
	}
	v := validateScriptCompleted(req, spec.Scripts)
	if !v.OK() {
		httpapi.Validation(w, "Invalid script report.", v.Errors())
		return
	}
	run := database.AgentScriptRun{ScriptIndex: req.ScriptIndex, Stage: string(req.Stage), Status: string(req.Status), ExitCode: req.ExitCode,
		StartedAt: req.StartedAt, EndedAt: req.EndedAt, ReportedAt: api.now()}
	if err := api.opts.DB.UpsertAgentScriptRun(r.Context(), ac.Agent.ID, run); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store script run", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// validateScriptCompleted checks a report against the agent's scripts.
func validateScriptCompleted(req codersdk.PostAgentScriptCompletedRequest, scripts []codersdk.ProvisionerScript) *httpapi.Validator {
	v := &httpapi.Validator{}
	if req.ScriptIndex < 0 || req.ScriptIndex >= len(scripts) {
		v.Add("script_index", "this agent has %d scripts (indexes 0 to %d), not %d", len(scripts), len(scripts)-1, req.ScriptIndex)
	} else {
		s := scripts[req.ScriptIndex]
		if req.DisplayName != s.DisplayName {
			v.Add("display_name", "script %d is %s, not %s", req.ScriptIndex, strconv.Quote(s.DisplayName),
				strconv.Quote(httpapi.Truncate(httpapi.NoNUL(req.DisplayName), 128)))
		}
		if req.Stage.Valid() && !runsAt(s, req.Stage) {
			v.Add("stage", "script %d (%s) does not run at %s", req.ScriptIndex, strconv.Quote(s.DisplayName), req.Stage)
		}
	}
	if !req.Stage.Valid() {
		v.Add("stage", "must be start, stop or cron, not %s", strconv.Quote(httpapi.Truncate(httpapi.NoNUL(string(req.Stage)), 64)))
	}
	if !req.Status.Valid() {
		v.Add("status", "must be ok, exit_failure, timed_out or pipes_left_open, not %s", strconv.Quote(httpapi.Truncate(httpapi.NoNUL(string(req.Status)), 64)))
	}
	if req.StartedAt.IsZero() {
		v.Add("started_at", "is required")
	}
	switch {
	case req.EndedAt.IsZero():
		v.Add("ended_at", "is required")
	case !req.StartedAt.IsZero() && req.EndedAt.Before(req.StartedAt):
		v.Add("ended_at", "%s is before started_at %s", req.EndedAt.Format(timeFormat), req.StartedAt.Format(timeFormat))
	}
	return v
}

// timeFormat shows times in validation messages.
const timeFormat = "2006-01-02T15:04:05.999999999Z07:00"

// runsAt reports whether a script runs at stage.
func runsAt(s codersdk.ProvisionerScript, stage codersdk.AgentScriptStage) bool {
	switch stage {
	case codersdk.AgentScriptStageStart:
		return s.RunOnStart
	case codersdk.AgentScriptStageStop:
		return s.RunOnStop
	case codersdk.AgentScriptStageCron:
		return s.Cron != ""
	}
	return false
}

// agentScriptRunsOf reads the latest script runs of agents in one query
// (agent ID -> script index -> run), for applyAgentScripts.
func (api *API) agentScriptRunsOf(ctx context.Context, agents []database.WorkspaceAgent) (map[uuid.UUID]map[int]database.AgentScriptRun, error) {
	ids := make([]uuid.UUID, 0, len(agents))
	for _, a := range agents {
		ids = append(ids, a.ID)
	}
	runs, err := api.opts.DB.GetAgentScriptRunsByAgentIDs(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("get agent script runs: %w", err)
	}
	return runs, nil
}

// applyAgentScripts fills ca.Scripts and ca.StartupScriptBehavior from the
// agent's spec and its latest runs.
func applyAgentScripts(ca *codersdk.WorkspaceAgent, spec provisionerdserver.AgentSpec, runs map[int]database.AgentScriptRun) {
	ca.StartupScriptBehavior = codersdk.StartupScriptBehavior(spec.Scripts)
	ca.Scripts = make([]codersdk.WorkspaceAgentScript, 0, len(spec.Scripts))
	for i, s := range spec.Scripts {
		ws := codersdk.WorkspaceAgentScript{DisplayName: s.DisplayName, Icon: s.Icon, Cron: s.Cron, RunOnStart: s.RunOnStart, RunOnStop: s.RunOnStop,
			StartBlocksLogin: s.StartBlocksLogin, TimeoutSeconds: s.TimeoutSeconds, LogPath: s.LogPath}
		if r, ok := runs[i]; ok {
			ws.LastRun = &codersdk.WorkspaceAgentScriptRun{Stage: codersdk.AgentScriptStage(r.Stage), Status: codersdk.AgentScriptStatus(r.Status),
				ExitCode: r.ExitCode, StartedAt: r.StartedAt, EndedAt: r.EndedAt}
		}
		ca.Scripts = append(ca.Scripts, ws)
	}
}
