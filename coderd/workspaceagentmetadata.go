package coderd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// Agent metadata (coder_agent metadata blocks): the agent posts the latest
// results of its scripts to POST /workspaceagents/me/metadata; coderd keeps
// the latest per (agent, key) in workspace_agent_metadata, NOTIFYs
// ChannelAgentMetadata so watchers on every replica wake, and users follow
// GET /workspaceagents/{id}/watch-metadata (server-sent events: the full
// set on connect, then again on every change). The agent, workspace and
// build answers carry the latest results too.
//
// A value or error longer than codersdk.MaxAgentMetadataValueBytes is
// refused with 400 (never cut silently): our agent truncates before
// sending, so only a broken or foreign client sends more, and it should
// learn why.

const (
	// maxAgentMetadataReport bounds the items of one report.
	maxAgentMetadataReport = 256
	// metadataWatchPing is how often an idle watch gets an event, so
	// proxies keep the stream open and a gone client is noticed.
	metadataWatchPing = 15 * time.Second
	// metadataWatchPoll re-reads the results even without a notification,
	// a safety net for notifications lost while pubsub reconnected.
	metadataWatchPoll = 30 * time.Second
)

// postAgentMetadata stores an agent's metadata results. Every key must be
// one of the agent's metadata keys, once per report; otherwise nothing is
// stored and the answer names each bad item as metadata[i].<field>.
// collected_at is the time coderd received the report (the agent's clock
// may be skewed), as in the incumbent.
func (api *API) postAgentMetadata(w http.ResponseWriter, r *http.Request) {
	var req codersdk.PostAgentMetadataRequest
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
	case req.Metadata == nil:
		v.Add("metadata", "required: a list of {key, value, error}")
	case len(req.Metadata) > maxAgentMetadataReport:
		v.Add("metadata", "at most %d items per report", maxAgentMetadataReport)
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid metadata report.", v.Errors())
		return
	}
	now := api.now()
	seen := map[string]bool{}
	rows := make([]database.AgentMetadataResult, 0, len(req.Metadata))
	for i, m := range req.Metadata {
		field := fmt.Sprintf("metadata[%d]", i)
		switch {
		case !slices.ContainsFunc(spec.Metadata, func(d codersdk.ProvisionerAgentMetadata) bool { return d.Key == m.Key }):
			v.Add(field+".key", "this agent has no metadata key %s", strconv.Quote(httpapi.Truncate(httpapi.NoNUL(m.Key), 128)))
			continue
		case seen[m.Key]:
			v.Add(field+".key", "key %s appears twice in this report", strconv.Quote(m.Key))
			continue
		}
		seen[m.Key] = true
		if len(m.Value) > codersdk.MaxAgentMetadataValueBytes {
			v.Add(field+".value", "%d bytes: at most %d", len(m.Value), codersdk.MaxAgentMetadataValueBytes)
		}
		if len(m.Error) > codersdk.MaxAgentMetadataValueBytes {
			v.Add(field+".error", "%d bytes: at most %d", len(m.Error), codersdk.MaxAgentMetadataValueBytes)
		}
		rows = append(rows, database.AgentMetadataResult{Key: m.Key, Value: cleanText(m.Value), Error: cleanText(m.Error), CollectedAt: now})
	}
	if !v.OK() {
		httpapi.Validation(w, "Invalid metadata report.", v.Errors())
		return
	}
	if err := api.opts.DB.UpsertAgentMetadata(r.Context(), ac.Agent.ID, rows); err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "store agent metadata", err)
		return
	}
	// Watchers also poll, so a lost notification only delays them.
	if err := api.opts.Pubsub.Publish(r.Context(), database.ChannelAgentMetadata(ac.Agent.ID), nil); err != nil {
		api.opts.Logger.WarnContext(r.Context(), "publish agent metadata change", "agent_id", ac.Agent.ID, "error", err)
	}
	w.WriteHeader(http.StatusNoContent)
}

// cleanText makes script output storable as PostgreSQL text: valid UTF-8,
// no NUL.
func cleanText(s string) string {
	return httpapi.NoNUL(strings.ToValidUTF8(s, "\uFFFD"))
}

// agentMetadataOf reads the stored metadata results of agents (agent ID ->
// key -> result), for applyAgentMetadata.
func (api *API) agentMetadataOf(ctx context.Context, agents []database.WorkspaceAgent) (map[uuid.UUID]map[string]database.AgentMetadataResult, error) {
	ids := make([]uuid.UUID, 0, len(agents))
	for _, a := range agents {
		ids = append(ids, a.ID)
	}
	return api.opts.DB.GetAgentMetadataByAgentIDs(ctx, ids)
}

// agentMetadata joins an agent's metadata descriptions with their latest
// results, ordered by order then key (the provider's rule). Keys never
// reported have a zero result.
func agentMetadata(descs []codersdk.ProvisionerAgentMetadata, results map[string]database.AgentMetadataResult, now time.Time) []codersdk.WorkspaceAgentMetadata {
	sorted := slices.Clone(descs)
	slices.SortStableFunc(sorted, func(a, b codersdk.ProvisionerAgentMetadata) int {
		if a.Order != b.Order {
			return compareInt64(a.Order, b.Order)
		}
		return strings.Compare(a.Key, b.Key)
	})
	out := make([]codersdk.WorkspaceAgentMetadata, 0, len(sorted))
	for _, d := range sorted {
		md := codersdk.WorkspaceAgentMetadata{Description: d.MetadataDescription()}
		if r, ok := results[d.Key]; ok {
			md.Result = codersdk.WorkspaceAgentMetadataResult{CollectedAt: r.CollectedAt, Value: r.Value, Error: r.Error,
				Age: max(0, int64(now.Sub(r.CollectedAt)/time.Second))}
		}
		out = append(out, md)
	}
	return out
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// applyAgentMetadata fills ca.Metadata from the agent's spec and results.
func (api *API) applyAgentMetadata(ca *codersdk.WorkspaceAgent, a database.WorkspaceAgent, results map[string]database.AgentMetadataResult) error {
	spec, err := decodeAgentSpec(a)
	if err != nil {
		return err
	}
	if len(spec.Metadata) > 0 {
		ca.Metadata = agentMetadata(spec.Metadata, results, api.now())
	}
	return nil
}

// watchAgentMetadata serves GET /workspaceagents/{id}/watch-metadata as
// server-sent events: "event: data" with the agent's full metadata list
// on connect and whenever a value or error changes, "event: ping" while
// idle. It is authorized like the agent itself (read on its workspace).
func (api *API) watchAgentMetadata(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ac := userAgentParam(r)
	spec, err := decodeAgentSpec(ac.Agent)
	if err != nil {
		api.writeStoredError(w, r, "decode agent spec", err)
		return
	}
	// Subscribe before the first read so no change falls between the two.
	wake := make(chan struct{}, 1)
	cancelSub, err := api.opts.Pubsub.Subscribe(ctx, database.ChannelAgentMetadata(ac.Agent.ID), func([]byte, error) {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		httpapi.InternalError(w, r, api.opts.Logger, "subscribe to agent metadata", err)
		return
	}
	defer cancelSub()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event string, data []byte) bool {
		var buf bytes.Buffer
		buf.WriteString("event: " + event + "\ndata: ")
		buf.Write(data)
		buf.WriteString("\n\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}

	ping := time.NewTicker(metadataWatchPing)
	defer ping.Stop()
	poll := time.NewTicker(metadataWatchPoll)
	defer poll.Stop()
	var last []byte // the last set sent, without ages
	for first := true; ; first = false {
		results, err := api.opts.DB.GetAgentMetadataByAgentIDs(ctx, []uuid.UUID{ac.Agent.ID})
		if err != nil {
			if ctx.Err() == nil {
				api.opts.Logger.WarnContext(ctx, "read agent metadata for a watch", "agent_id", ac.Agent.ID, "error", err)
				send("error", []byte(strconv.Quote("could not read the agent's metadata")))
			}
			return
		}
		md := agentMetadata(spec.Metadata, results[ac.Agent.ID], api.now())
		key, _ := json.Marshal(withoutAge(md))
		if first || !bytes.Equal(key, last) {
			data, err := json.Marshal(md)
			if err != nil || !send("data", data) {
				return
			}
			last = key
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-poll.C:
		case <-ping.C:
			if !send("ping", []byte("{}")) {
				return
			}
			continue
		}
	}
}

// withoutAge is md with every age zeroed: ages change by themselves, so
// they do not count as a change.
func withoutAge(md []codersdk.WorkspaceAgentMetadata) []codersdk.WorkspaceAgentMetadata {
	out := slices.Clone(md)
	for i := range out {
		out[i].Result.Age = 0
	}
	return out
}
