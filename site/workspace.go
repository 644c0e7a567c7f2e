package site

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

type agentView struct {
	codersdk.WorkspaceAgent
	Resource string
	Logs     []codersdk.WorkspaceAgentLog
	Ports    []codersdk.ListeningPort
}

type workspaceData struct {
	Workspace codersdk.Workspace
	Builds    []codersdk.WorkspaceBuild
	Resources []codersdk.WorkspaceResource
	Agents    []agentView
	// Logs are the latest build's logs so far; the page follows the rest
	// live over the API's websocket.
	Logs      []codersdk.ProvisionerJobLog
	LastLogID int64
}

// maxPageBuilds bounds the build history shown on the workspace page.
const maxPageBuilds = 20

func (s *Site) workspacePage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	c := s.client(u.Token)
	ctx := r.Context()
	owner := chi.URLParam(r, "user")
	ws, err := c.WorkspaceByOwnerAndName(ctx, owner, chi.URLParam(r, "workspace"))
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	builds, err := c.WorkspaceBuilds(ctx, ws.ID)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	if len(builds) > maxPageBuilds {
		builds = builds[:maxPageBuilds]
	}
	data := workspaceData{Workspace: ws, Builds: builds}
	logs, _, err := c.WorkspaceBuildLogsAfter(ctx, ws.LatestBuild.ID, 0, false)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	for l := range logs {
		data.Logs = append(data.Logs, l)
		data.LastLogID = l.ID
	}
	for _, res := range ws.LatestBuild.Resources {
		if res.Hide {
			continue
		}
		data.Resources = append(data.Resources, res)
		for _, a := range res.Agents {
			av := agentView{WorkspaceAgent: a, Resource: res.Type + "." + res.Name}
			if av.Logs, err = c.WorkspaceAgentLogs(ctx, a.ID, 0); err != nil {
				s.renderAPIError(w, r, err)
				return
			}
			if a.Status == codersdk.WorkspaceAgentConnected {
				ports, err := c.WorkspaceAgentListeningPorts(ctx, a.ID)
				if err != nil {
					s.renderAPIError(w, r, err)
					return
				}
				av.Ports = ports.Ports
			}
			data.Agents = append(data.Agents, av)
		}
	}
	page := "workspace"
	if r.URL.Query().Get("partial") == "status" {
		page = "workspace#workspace_status"
	}
	s.render(w, r, http.StatusOK, page, view{Title: ws.OwnerName + "/" + ws.Name, Data: data})
}
