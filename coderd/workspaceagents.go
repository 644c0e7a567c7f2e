package coderd

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// Coordinator exchanges tailnet node descriptions between agents and the
// clients allowed to reach them (implemented by package tailnet).
type Coordinator interface {
	ServeAgent(ctx context.Context, conn *websocket.Conn, agentID uuid.UUID) error
	ServeClient(ctx context.Context, conn *websocket.Conn, clientID, agentID uuid.UUID) error
}

// agentLogLimit bounds the startup-script output stored per agent.
const agentLogLimit = 1 << 20

type agentCtxKey struct{}

// extractAgent authenticates a workspace agent by its token. Only agents of
// a workspace's latest build, of a workspace that is not deleted, pass, and
// the agent of the build before while the build that replaces it runs, for
// its shutdown reports (agentStopping).
func (api *API) extractAgent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		token := httpmw.TokenFromRequest(r)
		if _, err := uuid.Parse(token); err != nil {
			httpapi.Error(w, http.StatusUnauthorized, "Invalid agent token.", "Agents authenticate with the token Terraform gave them (CODER_AGENT_TOKEN).")
			return
		}
		agent, err := api.opts.DB.GetWorkspaceAgentByHashedToken(ctx, apikey.Hash(token))
		if errors.Is(err, database.ErrNotFound) {
			httpapi.Error(w, http.StatusUnauthorized, "Invalid agent token.", "No agent has this token; was the workspace rebuilt?")
			return
		}
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "look up agent", err)
			return
		}
		ac, err := api.opts.DB.GetAgentContext(ctx, agent)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "look up agent workspace", err)
			return
		}
		latest, err := api.opts.DB.GetLatestWorkspaceBuild(ctx, ac.Workspace.ID)
		if err != nil {
			httpapi.InternalError(w, r, api.opts.Logger, "look up latest build", err)
			return
		}
		if ac.Workspace.Deleted || latest.ID != ac.Build.ID {
			stopping, err := api.agentStopping(ctx, r, ac, latest)
			if err != nil {
				httpapi.InternalError(w, r, api.opts.Logger, "look up the stopping build", err)
				return
			}
			if !stopping {
				httpapi.Error(w, http.StatusUnauthorized, "This agent belongs to an old build of the workspace.", "The workspace was rebuilt or deleted; this agent should exit.")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, agentCtxKey{}, ac)))
	})
}

func agentFrom(r *http.Request) database.AgentContext {
	return r.Context().Value(agentCtxKey{}).(database.AgentContext)
}

func (api *API) agentManifest(w http.ResponseWriter, r *http.Request) {
	ac := agentFrom(r)
	spec, err := decodeAgentSpec(ac.Agent)
	if err != nil {
		api.writeStoredError(w, r, "decode agent spec", err)
		return
	}
	owner, err := api.opts.DB.GetUserByID(r.Context(), ac.Workspace.OwnerID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get owner", err)
		return
	}
	m := codersdk.AgentManifest{
		AgentID: ac.Agent.ID, AgentName: ac.Agent.Name, OwnerUsername: owner.Username, WorkspaceID: ac.Workspace.ID, WorkspaceName: ac.Workspace.Name,
		EnvironmentVariables: spec.Env, Directory: ac.Agent.Directory, MOTDFile: spec.MOTDFile, Scripts: spec.Scripts, Apps: spec.Apps,
		Metadata: spec.Metadata, DERPMap: api.derpMap(), DisableDirectConnections: api.opts.BlockDirect, DERPForceWebSockets: api.opts.DERPForceWebSockets,
	}
	if m.EnvironmentVariables == nil {
		m.EnvironmentVariables = map[string]string{}
	}
	httpapi.Write(w, http.StatusOK, m)
}

func (api *API) derpMap() json.RawMessage {
	if api.opts.DERPMap == nil {
		return json.RawMessage("null")
	}
	return api.opts.DERPMap()
}

var lifecycleOrder = map[codersdk.WorkspaceAgentLifecycle]bool{
	codersdk.WorkspaceAgentLifecycleCreated: true, codersdk.WorkspaceAgentLifecycleStarting: true, codersdk.WorkspaceAgentLifecycleStartTimeout: true,
	codersdk.WorkspaceAgentLifecycleStartError: true, codersdk.WorkspaceAgentLifecycleReady: true, codersdk.WorkspaceAgentLifecycleShuttingDown: true,
	codersdk.WorkspaceAgentLifecycleShutdownTimeout: true, codersdk.WorkspaceAgentLifecycleShutdownError: true, codersdk.WorkspaceAgentLifecycleOff: true,
}

func (api *API) postAgentLifecycle(w http.ResponseWriter, r *http.Request) {
	var req codersdk.PostLifecycleRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	if !lifecycleOrder[req.State] {
		httpapi.Validation(w, "Invalid lifecycle state.", []codersdk.ValidationError{{Field: "state", Detail: "unknown state " + strconv.Quote(string(req.State))}})
		return
	}
	if req.ChangedAt.IsZero() {
		req.ChangedAt = api.now()
	}
	if err := api.opts.DB.UpdateAgentLifecycle(r.Context(), agentFrom(r).Agent.ID, string(req.State), req.ChangedAt); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "update lifecycle", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (api *API) postAgentStartup(w http.ResponseWriter, r *http.Request) {
	var req codersdk.PostStartupRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	v.Text("version", req.Version, 64)
	v.Text("expanded_directory", req.ExpandedDirectory, 4096)
	if len(req.Subsystems) > 16 {
		v.Add("subsystems", "at most 16")
	}
	for i, s := range req.Subsystems {
		v.Text("subsystems["+strconv.Itoa(i)+"]", s, 64)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid startup report.", v.Errors())
		return
	}
	if err := api.opts.DB.UpdateAgentStartup(r.Context(), agentFrom(r).Agent.ID, req.Version, req.ExpandedDirectory, req.Subsystems, codersdk.AgentAPIVersion); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "update startup", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (api *API) patchAgentLogs(w http.ResponseWriter, r *http.Request) {
	var req codersdk.PatchLogsRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	if len(req.Logs) > 1000 {
		httpapi.Validation(w, "Too many log lines.", []codersdk.ValidationError{{Field: "logs", Detail: "at most 1000 per request"}})
		return
	}
	logs := make([]database.AgentLog, 0, len(req.Logs))
	for _, l := range req.Logs {
		if l.Level == "" {
			l.Level = codersdk.ProvisionerLogLevelInfo
		}
		switch l.Level {
		case codersdk.ProvisionerLogLevelTrace, codersdk.ProvisionerLogLevelDebug, codersdk.ProvisionerLogLevelInfo, codersdk.ProvisionerLogLevelWarn, codersdk.ProvisionerLogLevelError:
		default:
			l.Level = codersdk.ProvisionerLogLevelInfo
		}
		if l.CreatedAt.IsZero() {
			l.CreatedAt = api.now()
		}
		logs = append(logs, database.AgentLog{CreatedAt: l.CreatedAt, Level: string(l.Level), Source: httpapi.Truncate(httpapi.NoNUL(l.Source), 128), Output: httpapi.Truncate(httpapi.NoNUL(l.Output), 64<<10)})
	}
	overflowed, err := api.opts.DB.InsertAgentLogs(r.Context(), agentFrom(r).Agent.ID, logs, agentLogLimit)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store agent logs", err)
		return
	}
	if overflowed {
		httpapi.Error(w, http.StatusRequestEntityTooLarge, "Log limit exceeded.", "Agents may store at most 1 MiB of startup logs; later lines are dropped.")
		return
	}
	httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "Logs stored."})
}

func (api *API) postAgentStats(w http.ResponseWriter, r *http.Request) {
	var req codersdk.AgentStats
	if !httpapi.Read(w, r, &req) {
		return
	}
	var v httpapi.Validator
	for k := range req.SessionCountByType {
		v.Text("session_count_by_type", k, 64)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid stats.", v.Errors())
		return
	}
	if err := api.opts.DB.UpdateAgentReport(r.Context(), agentFrom(r).Agent.ID, "last_stats", req); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store stats", err)
		return
	}
	for _, n := range req.SessionCountByType {
		if n > 0 { // someone is connected: the workspace is in use
			api.bumpActivity(r.Context(), agentFrom(r).Workspace.ID)
			break
		}
	}
	httpapi.Write(w, http.StatusOK, codersdk.AgentStatsResponse{ReportIntervalSeconds: 30})
}

func (api *API) postAgentListeningPorts(w http.ResponseWriter, r *http.Request) {
	var req codersdk.ListeningPortsResponse
	if !httpapi.Read(w, r, &req) {
		return
	}
	if len(req.Ports) > 1024 {
		req.Ports = req.Ports[:1024]
	}
	if req.Ports == nil {
		req.Ports = []codersdk.ListeningPort{}
	}
	for i, p := range req.Ports {
		req.Ports[i].ProcessName, req.Ports[i].Network = httpapi.NoNUL(p.ProcessName), httpapi.NoNUL(p.Network)
	}
	if err := api.opts.DB.UpdateAgentReport(r.Context(), agentFrom(r).Agent.ID, "listening_ports", req.Ports); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store ports", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentCoordinate serves the agent's coordination websocket and records
// its connection times while it lasts.
func (api *API) agentCoordinate(w http.ResponseWriter, r *http.Request) {
	ac := agentFrom(r)
	if api.opts.Coordinator == nil {
		httpapi.Error(w, http.StatusServiceUnavailable, "The tailnet coordinator is not running.")
		return
	}
	// Counted from before the upgrade, so the gauge already includes an
	// agent whose handshake has completed.
	defer api.metrics.agentConnected()()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(1 << 20)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	api.recordAgentConnection(ctx, ac.Agent.ID, true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				api.recordAgentConnection(ctx, ac.Agent.ID, true)
			}
		}
	}()
	err = api.opts.Coordinator.ServeAgent(ctx, conn, ac.Agent.ID)
	cancel()
	<-done
	api.recordAgentConnection(ctx, ac.Agent.ID, false)
	if err != nil && ctx.Err() == nil {
		api.opts.Logger.DebugContext(ctx, "agent coordination ended", "agent_id", ac.Agent.ID, "error", err)
	}
}

// recordAgentConnection stores that an agent is (still) connected or has
// disconnected. The write outlives ctx, bounded, so a disconnect is
// recorded even though the connection's context has ended.
func (api *API) recordAgentConnection(ctx context.Context, agentID uuid.UUID, connected bool) {
	wctx, cancel := api.detached(ctx)
	defer cancel()
	if err := api.opts.DB.UpdateAgentConnection(wctx, agentID, connected, api.now()); err != nil {
		api.opts.Logger.WarnContext(ctx, "record agent connection", "agent_id", agentID, "connected", connected, "error", err)
	}
}

// extractAgentParam resolves {workspaceagent} by ID for users, with its
// workspace: an agent is authorized as its workspace.
func (api *API) extractAgentParam(next http.Handler) http.Handler {
	return extractParam(api, "workspaceagent", "agent", byID(func(ctx context.Context, id uuid.UUID) (database.AgentContext, error) {
		agent, err := api.opts.DB.GetWorkspaceAgentByID(ctx, id)
		if err != nil {
			return database.AgentContext{}, err
		}
		return api.opts.DB.GetAgentContext(ctx, agent)
	}), func(ac database.AgentContext) rbac.Object { return workspaceObject(ac.Workspace) })(next)
}

func userAgentParam(r *http.Request) database.AgentContext {
	return paramFrom[database.AgentContext](r)
}

func (api *API) workspaceAgent(w http.ResponseWriter, r *http.Request) {
	agent := userAgentParam(r).Agent
	cas, err := api.convertAgents(r.Context(), []database.WorkspaceAgent{agent})
	if err != nil {
		api.writeStoredError(w, r, "convert agent", err)
		return
	}
	ca := cas[0]
	httpapi.Write(w, http.StatusOK, ca)
}

func (api *API) workspaceAgentConnection(w http.ResponseWriter, r *http.Request) {
	httpapi.Write(w, http.StatusOK, codersdk.AgentConnectionInfo{DERPMap: api.derpMap(), DisableDirectConnections: api.opts.BlockDirect, DERPForceWebSockets: api.opts.DERPForceWebSockets})
}

func (api *API) workspaceAgentLogs(w http.ResponseWriter, r *http.Request) {
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			httpapi.Validation(w, "Invalid query parameters.", []codersdk.ValidationError{{Field: "after", Detail: "must be a non-negative integer"}})
			return
		}
		after = n
	}
	rows, err := api.opts.DB.GetAgentLogsAfter(r.Context(), userAgentParam(r).Agent.ID, after)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get agent logs", err)
		return
	}
	out := make([]codersdk.WorkspaceAgentLog, 0, len(rows))
	for _, l := range rows {
		out = append(out, codersdk.WorkspaceAgentLog{ID: l.ID, CreatedAt: l.CreatedAt, Level: codersdk.ProvisionerLogLevel(l.Level), Output: l.Output, Source: l.Source})
	}
	httpapi.Write(w, http.StatusOK, out)
}

func (api *API) workspaceAgentListeningPorts(w http.ResponseWriter, r *http.Request) {
	raw, err := api.opts.DB.GetAgentListeningPorts(r.Context(), userAgentParam(r).Agent.ID)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "get ports", err)
		return
	}
	out := codersdk.ListeningPortsResponse{Ports: []codersdk.ListeningPort{}}
	if err := decodeStored("workspace_agents", "listening_ports", userAgentParam(r).Agent.ID, raw, &out.Ports); err != nil {
		api.writeStoredError(w, r, "decode listening ports", err)
		return
	}
	httpapi.Write(w, http.StatusOK, out)
}

// workspaceAgentCoordinate serves a client's coordination websocket: only
// for callers allowed to SSH into the workspace.
func (api *API) workspaceAgentCoordinate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor, _ := httpmw.ActorFrom(ctx)
	ac := userAgentParam(r)
	if !rbac.Authorize(actor.Subject, rbac.ActionSSH, workspaceObject(ac.Workspace)) {
		httpapi.Forbidden(w)
		return
	}
	if api.opts.BrowserOnly {
		httpapi.Error(w, http.StatusConflict, "This deployment only allows connections from the browser.",
			"The server runs with --browser-only: use the dashboard's terminal and apps instead of the CLI.")
		return
	}
	if api.opts.Coordinator == nil {
		httpapi.Error(w, http.StatusServiceUnavailable, "The tailnet coordinator is not running.")
		return
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(1 << 20)
	_ = api.opts.Coordinator.ServeClient(ctx, conn, uuid.New(), ac.Agent.ID)
}

func (api *API) derpMapHandler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(api.derpMap())
}

var binaryName = regexp.MustCompile(`^coder-(linux|darwin|windows)-(amd64|arm64|armv7)(\.exe)?$`)

// agentBinary serves /bin/coder-<os>-<arch>: from AgentBinariesDir when
// present, else this very binary when the platform matches.
func (api *API) agentBinary(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	m := binaryName.FindStringSubmatch(name)
	if m == nil {
		httpapi.Error(w, http.StatusNotFound, "No such binary.", "Binaries are named coder-<os>-<arch>, e.g. coder-linux-amd64.")
		return
	}
	path := ""
	if api.opts.AgentBinariesDir != "" {
		p := api.opts.AgentBinariesDir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			path = p
		}
	}
	if path == "" && m[1] == runtime.GOOS && m[2] == runtime.GOARCH {
		if exe, err := os.Executable(); err == nil {
			path = exe
		}
	}
	if path == "" {
		httpapi.Error(w, http.StatusNotFound, "No agent binary for "+m[1]+"/"+m[2]+".",
			"This server runs on "+runtime.GOOS+"/"+runtime.GOARCH+"; put cross-compiled binaries in --agent-binaries-dir.")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "open agent binary", err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "stat agent binary", err)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, name, st.ModTime(), f)
}
