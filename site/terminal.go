package site

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

type terminalData struct {
	Workspace codersdk.Workspace
	Agent     codersdk.WorkspaceAgent
	// Reconnect names the PTY session: the same value after a reload
	// resumes the same shell with its scrollback.
	Reconnect uuid.UUID
	Command   string
}

// terminalPage serves /@{user}/{workspace}[.{agent}]/terminal: the
// xterm.js page that speaks the API's reconnecting-PTY websocket.
func (s *Site) terminalPage(w http.ResponseWriter, r *http.Request) {
	c := s.client(currentUser(r.Context()).Token)
	wsName, agentName, _ := strings.Cut(chi.URLParam(r, "workspace"), ".")
	ws, err := c.WorkspaceByOwnerAndName(r.Context(), chi.URLParam(r, "user"), wsName)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	var agents []codersdk.WorkspaceAgent
	for _, res := range ws.LatestBuild.Resources {
		agents = append(agents, res.Agents...)
	}
	var agent *codersdk.WorkspaceAgent
	for i := range agents {
		if agentName == "" || agents[i].Name == agentName {
			agent = &agents[i]
			break
		}
	}
	switch {
	case agent == nil && agentName != "":
		s.renderError(w, r, http.StatusNotFound, "Not found", "Workspace "+ws.Name+" has no agent named "+agentName+".")
		return
	case agent == nil:
		s.renderError(w, r, http.StatusNotFound, "No agent", "Workspace "+ws.Name+" has no running agent: start it first.")
		return
	case agentName == "" && len(agents) > 1:
		s.renderError(w, r, http.StatusBadRequest, "Which agent?", "Workspace "+ws.Name+" has several agents: open /@"+ws.OwnerName+"/"+ws.Name+".AGENT/terminal.")
		return
	}
	if !agent.HasDisplayApp(codersdk.DisplayAppWebTerminal) {
		// Only the page: like the incumbent, the display_apps block hides
		// ways in, the API behind them stays open.
		s.renderError(w, r, http.StatusForbidden, "Web terminal turned off", "The template turned the web terminal off for agent "+agent.Name+" of workspace "+ws.Name+" (coder_agent display_apps). Connect with SSH instead, if the template allows it.")
		return
	}
	data := terminalData{Workspace: ws, Agent: *agent, Command: r.URL.Query().Get("command")}
	data.Reconnect, err = uuid.Parse(r.URL.Query().Get("reconnect"))
	if err != nil {
		// A fresh session: put its id in the URL so a reload resumes it.
		q := r.URL.Query()
		q.Set("reconnect", uuid.NewString())
		http.Redirect(w, r, r.URL.Path+"?"+q.Encode(), http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "terminal", view{Title: "Terminal · " + ws.Name + "." + agent.Name, Data: data})
}
