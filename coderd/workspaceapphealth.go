package coderd

import (
	"context"
	"net/http"
	"slices"
	"strconv"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// maxAppHealthReport bounds the apps one report may name; an agent has
// far fewer apps, and every name must be one of them anyway.
const maxAppHealthReport = 256

// postAgentAppHealth stores the health changes an agent observed in its
// apps' health checks (POST /workspaceagents/me/app-health). Every named
// app must be one of the agent's, have a health check, and get a state
// the agent may report; otherwise nothing is stored and the answer names
// each bad entry as healths.<slug>.
func (api *API) postAgentAppHealth(w http.ResponseWriter, r *http.Request) {
	var req codersdk.PostWorkspaceAppHealthsRequest
	if !httpapi.Read(w, r, &req) {
		return
	}
	ac := agentFrom(r)
	spec, err := decodeAgentSpec(ac.Agent)
	if err != nil {
		api.writeStoredError(w, r, "decode agent spec", err)
		return
	}
	var v httpapi.Validator
	switch {
	case req.Healths == nil:
		v.Add("healths", "required: an object of app slug to health")
	case len(req.Healths) > maxAppHealthReport:
		v.Add("healths", "at most %d apps per report", maxAppHealthReport)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid app health report.", v.Errors())
		return
	}
	slugs := make([]string, 0, len(req.Healths))
	for slug := range req.Healths {
		slugs = append(slugs, slug)
	}
	slices.Sort(slugs) // validation errors in a stable order
	store := make(map[string]string, len(req.Healths))
	for _, slug := range slugs {
		h := req.Healths[slug]
		field := "healths." + httpapi.Truncate(httpapi.NoNUL(slug), 128)
		i := slices.IndexFunc(spec.Apps, func(a codersdk.ProvisionerApp) bool { return a.Slug == slug })
		switch {
		case i < 0:
			v.Add(field, "this agent has no app with this slug")
		case spec.Apps[i].Healthcheck == nil || spec.Apps[i].Healthcheck.URL == "":
			v.Add(field, "this app has no health check; its health is always disabled")
		case !codersdk.ReportableAppHealth(h):
			v.Add(field, "unknown health %s: one of initializing, healthy, unhealthy", strconv.Quote(httpapi.Truncate(httpapi.NoNUL(string(h)), 64)))
		default:
			store[slug] = string(h)
		}
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid app health report.", v.Errors())
		return
	}
	if err := api.opts.DB.UpsertAppHealths(r.Context(), ac.Agent.ID, store, api.now()); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store app health", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// appHealthsOf reads the stored app healths of agents (agent ID -> slug ->
// health), for applyAppHealths.
func (api *API) appHealthsOf(ctx context.Context, agents []database.WorkspaceAgent) (map[uuid.UUID]map[string]string, error) {
	ids := make([]uuid.UUID, len(agents))
	for i, a := range agents {
		ids[i] = a.ID
	}
	return api.opts.DB.GetAppHealthsByAgentIDs(ctx, ids)
}

// applyAppHealths sets the reported health of apps with a health check.
// Apps without one stay disabled; checked apps the agent has not reported
// yet stay initializing (as codersdk.AppFromProvisioner made them).
func applyAppHealths(apps []codersdk.WorkspaceApp, healths map[string]string) {
	for i := range apps {
		if apps[i].Health == codersdk.WorkspaceAppHealthDisabled {
			continue
		}
		if h, ok := healths[apps[i].Slug]; ok {
			apps[i].Health = codersdk.WorkspaceAppHealth(h)
		}
	}
}
