package site

import (
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

type agentView struct {
	codersdk.WorkspaceAgent
	Resource string
	Logs     []codersdk.WorkspaceAgentLog
	Ports    []portLink
	Apps     []appLink
	// The built-in ways in the template shows (display_apps): the
	// Terminal button, the SSH command, the listening ports and their
	// forwarding links. The API behind them is not restricted.
	ShowTerminal, ShowSSH, ShowPorts bool
}

// appLink is an app as the page lists it: where it opens, or why it
// cannot be opened from here.
type appLink struct {
	codersdk.WorkspaceApp
	Href string
	Note string
}

type portLink struct {
	codersdk.ListeningPort
	Href string
}

// appLinks gives each visible app its address (codersdk.AppLink, the rule
// the CLI uses too) on the origin the dashboard was reached on.
func appLinks(r *http.Request, host codersdk.AppHostResponse, ws codersdk.Workspace, agent codersdk.WorkspaceAgent, apps []codersdk.WorkspaceApp) []appLink {
	base := requestBase(r)
	var out []appLink
	for _, app := range apps {
		if app.Hidden {
			continue
		}
		l := appLink{WorkspaceApp: app}
		l.Href, l.Note = codersdk.AppLink(base, host, ws, agent.Name, app)
		out = append(out, l)
	}
	return out
}

func portLinks(r *http.Request, host codersdk.AppHostResponse, ws codersdk.Workspace, agent codersdk.WorkspaceAgent, ports []codersdk.ListeningPort) []portLink {
	base := requestBase(r)
	out := make([]portLink, 0, len(ports))
	for _, p := range ports {
		out = append(out, portLink{ListeningPort: p, Href: codersdk.PortLink(base, host, ws, agent.Name, p.Port)})
	}
	return out
}

// requestBase is the scheme and host the dashboard was reached on.
func requestBase(r *http.Request) *url.URL {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: r.Host}
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
	appHost, err := c.AppHost(ctx)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
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
			av := agentView{WorkspaceAgent: a, Resource: res.Type + "." + res.Name, Apps: appLinks(r, appHost, ws, a, a.Apps),
				ShowTerminal: a.HasDisplayApp(codersdk.DisplayAppWebTerminal), ShowSSH: a.HasDisplayApp(codersdk.DisplayAppSSH),
				ShowPorts: a.HasDisplayApp(codersdk.DisplayAppPortForward)}
			if av.Logs, err = c.WorkspaceAgentLogs(ctx, a.ID, 0); err != nil {
				s.renderAPIError(w, r, err)
				return
			}
			if a.Status == codersdk.WorkspaceAgentConnected && av.ShowPorts {
				ports, err := c.WorkspaceAgentListeningPorts(ctx, a.ID)
				if err != nil {
					s.renderAPIError(w, r, err)
					return
				}
				av.Ports = portLinks(r, appHost, ws, a, ports.Ports)
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
