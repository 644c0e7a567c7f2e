package codersdk

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// WorkspaceAppSharingLevel says who besides the workspace's owner may open
// an app.
type WorkspaceAppSharingLevel string

// Sharing levels, as in the coder_app resource's share attribute.
const (
	WorkspaceAppSharingLevelOwner         WorkspaceAppSharingLevel = "owner"
	WorkspaceAppSharingLevelAuthenticated WorkspaceAppSharingLevel = "authenticated"
	WorkspaceAppSharingLevelOrganization  WorkspaceAppSharingLevel = "organization"
	WorkspaceAppSharingLevelPublic        WorkspaceAppSharingLevel = "public"
)

// WorkspaceAppHealth is the state of an app's health check.
type WorkspaceAppHealth string

// App health states.
const (
	WorkspaceAppHealthDisabled     WorkspaceAppHealth = "disabled"
	WorkspaceAppHealthInitializing WorkspaceAppHealth = "initializing"
	WorkspaceAppHealthHealthy      WorkspaceAppHealth = "healthy"
	WorkspaceAppHealthUnhealthy    WorkspaceAppHealth = "unhealthy"
)

// WorkspaceApp is a coder_app of an agent, with the field names of the
// incumbent's API so its users' scripts carry over.
type WorkspaceApp struct {
	// ID is stable for an agent's app (derived from the agent and slug).
	ID           uuid.UUID                `json:"id"`
	URL          string                   `json:"url,omitempty"`
	External     bool                     `json:"external"`
	Slug         string                   `json:"slug"`
	DisplayName  string                   `json:"display_name"`
	Command      string                   `json:"command,omitempty"`
	Icon         string                   `json:"icon,omitempty"`
	Subdomain    bool                     `json:"subdomain"`
	SharingLevel WorkspaceAppSharingLevel `json:"sharing_level"`
	Healthcheck  *Healthcheck             `json:"healthcheck,omitempty"`
	Health       WorkspaceAppHealth       `json:"health"`
	Hidden       bool                     `json:"hidden"`
	OpenIn       string                   `json:"open_in,omitempty"`
	Group        string                   `json:"group,omitempty"`
	Order        int64                    `json:"order"`
}

// Healthcheck is how the agent probes an app.
type Healthcheck struct {
	URL string `json:"url"`
	// Interval is in seconds.
	Interval int32 `json:"interval"`
	// Threshold is the consecutive failures before unhealthy.
	Threshold int32 `json:"threshold"`
}

// AppFromProvisioner converts an app as the provisioner reported it.
// Health starts as initializing for apps with a health check (the agent
// reports changes) and disabled otherwise.
func AppFromProvisioner(agentID uuid.UUID, a ProvisionerApp) WorkspaceApp {
	share := WorkspaceAppSharingLevel(a.Share)
	if share == "" {
		share = WorkspaceAppSharingLevelOwner
	}
	out := WorkspaceApp{
		ID: uuid.NewSHA1(agentID, []byte("app:"+a.Slug)), URL: a.URL, External: a.External, Slug: a.Slug,
		DisplayName: a.DisplayName, Command: a.Command, Icon: a.Icon, Subdomain: a.Subdomain,
		SharingLevel: share, Health: WorkspaceAppHealthDisabled, Hidden: a.Hidden, OpenIn: a.OpenIn,
		Group: a.Group, Order: a.Order,
	}
	if a.DisplayName == "" {
		out.DisplayName = a.Slug
	}
	if hc := a.Healthcheck; hc != nil && hc.URL != "" {
		out.Healthcheck = &Healthcheck{URL: hc.URL, Interval: hc.Interval, Threshold: hc.Threshold}
		out.Health = WorkspaceAppHealthInitializing
	}
	return out
}

// AppHostResponse says how the deployment addresses apps.
type AppHostResponse struct {
	// Host is the wildcard app host ("*.apps.example.com"), empty when
	// subdomain apps are off.
	Host string `json:"host"`
	// PathAppsDisabled is set when /@user/workspace/apps/... is refused.
	PathAppsDisabled bool `json:"path_apps_disabled"`
}

// AppHost returns how the deployment addresses apps.
func (c *Client) AppHost(ctx context.Context) (AppHostResponse, error) {
	var out AppHostResponse
	return out, c.do(ctx, http.MethodGet, "/api/v2/applications/host", nil, http.StatusOK, &out)
}

// AppSubdomainHost is the host of an app (or of a port, as its number)
// under the wildcard "*.apps.example.com":
// {app}--{agent}--{workspace}--{user}.apps.example.com. No name may hold
// "--", which keeps the form unambiguous.
func AppSubdomainHost(wildcard, appOrPort, agent, workspace, user string) string {
	label := appOrPort
	if agent != "" {
		label += "--" + agent
	}
	label += "--" + workspace + "--" + user
	return strings.ToLower(label) + strings.TrimPrefix(wildcard, "*")
}

// AppLink says where an app opens for a deployment reached at base (the
// dashboard's scheme://host[:port]): its own subdomain when it asks for one
// (or path apps are off) and the deployment has a wildcard, else a path on
// the dashboard's origin. When it cannot be opened in a browser, href is
// empty and note says why. The dashboard and the CLI share this rule.
func AppLink(base *url.URL, host AppHostResponse, ws Workspace, agent string, app WorkspaceApp) (href, note string) {
	switch {
	case app.External:
		return app.URL, ""
	case app.URL == "":
		return "", "runs a command: open it from the terminal"
	case host.Host != "" && (app.Subdomain || host.PathAppsDisabled):
		return subdomainURL(base, AppSubdomainHost(host.Host, app.Slug, agent, ws.Name, ws.OwnerName)), ""
	case !host.PathAppsDisabled:
		return base.Scheme + "://" + base.Host + appPath(ws, agent) + "/apps/" + url.PathEscape(app.Slug) + "/", ""
	default:
		return "", "path apps are disabled and no wildcard app domain is set"
	}
}

// PortLink is AppLink for a port the agent reported listening.
func PortLink(base *url.URL, host AppHostResponse, ws Workspace, agent string, port uint16) string {
	p := strconv.Itoa(int(port))
	switch {
	case host.Host != "":
		return subdomainURL(base, AppSubdomainHost(host.Host, p, agent, ws.Name, ws.OwnerName))
	case !host.PathAppsDisabled:
		return base.Scheme + "://" + base.Host + appPath(ws, agent) + "/ports/" + p + "/"
	default:
		return ""
	}
}

func appPath(ws Workspace, agent string) string {
	return "/@" + url.PathEscape(ws.OwnerName) + "/" + url.PathEscape(ws.Name) + "." + url.PathEscape(agent)
}

// subdomainURL is an app host on the scheme and port of base.
func subdomainURL(base *url.URL, host string) string {
	if port := base.Port(); port != "" {
		host = net.JoinHostPort(host, port)
	}
	return base.Scheme + "://" + host + "/"
}
