package site

import (
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

type agentView struct {
	codersdk.WorkspaceAgent
	Resource string
	Logs     []codersdk.WorkspaceAgentLog
	Ports    []portLink
	Apps     []appLink
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

// appLinks decides each app's address: its own subdomain when the app asks
// for one (or path apps are off) and the deployment has a wildcard, else a
// path on the dashboard's origin.
func appLinks(r *http.Request, host codersdk.AppHostResponse, ws codersdk.Workspace, agent codersdk.WorkspaceAgent, apps []codersdk.WorkspaceApp) []appLink {
	var out []appLink
	for _, app := range apps {
		if app.Hidden {
			continue
		}
		l := appLink{WorkspaceApp: app}
		switch {
		case app.External:
			l.Href = app.URL
		case app.URL == "":
			l.Note = "runs a command: open it from the terminal"
		case host.Host != "" && (app.Subdomain || host.PathAppsDisabled):
			l.Href = subdomainURL(r, codersdk.AppSubdomainHost(host.Host, app.Slug, agent.Name, ws.Name, ws.OwnerName))
		case !host.PathAppsDisabled:
			l.Href = "/@" + url.PathEscape(ws.OwnerName) + "/" + url.PathEscape(ws.Name) + "." + url.PathEscape(agent.Name) + "/apps/" + url.PathEscape(app.Slug) + "/"
		default:
			l.Note = "path apps are disabled and no wildcard app domain is set"
		}
		out = append(out, l)
	}
	return out
}

func portLinks(r *http.Request, host codersdk.AppHostResponse, ws codersdk.Workspace, agent codersdk.WorkspaceAgent, ports []codersdk.ListeningPort) []portLink {
	out := make([]portLink, 0, len(ports))
	for _, p := range ports {
		l := portLink{ListeningPort: p}
		port := strconv.Itoa(int(p.Port))
		if host.Host != "" {
			l.Href = subdomainURL(r, codersdk.AppSubdomainHost(host.Host, port, agent.Name, ws.Name, ws.OwnerName))
		} else if !host.PathAppsDisabled {
			l.Href = "/@" + url.PathEscape(ws.OwnerName) + "/" + url.PathEscape(ws.Name) + "." + url.PathEscape(agent.Name) + "/ports/" + port + "/"
		}
		out = append(out, l)
	}
	return out
}

// subdomainURL is an app host on the scheme and port the dashboard was
// reached on.
func subdomainURL(r *http.Request, host string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if _, port, err := net.SplitHostPort(r.Host); err == nil {
		host = net.JoinHostPort(host, port)
	}
	return scheme + "://" + host + "/"
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
			av := agentView{WorkspaceAgent: a, Resource: res.Type + "." + res.Name, Apps: appLinks(r, appHost, ws, a, a.Apps)}
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
