package codersdk

// DisplayApp is a built-in way into a workspace that a template may hide
// from the dashboard (coder_agent's display_apps block). The names and the
// agent's "display_apps" field are the incumbent's, so clients written for
// it read ours.
type DisplayApp string

// The built-in apps. We ship no VS Code integration: the two VS Code flags
// only travel through the API, for clients that have one.
const (
	DisplayAppVSCodeDesktop  DisplayApp = "vscode"
	DisplayAppVSCodeInsiders DisplayApp = "vscode_insiders"
	DisplayAppWebTerminal    DisplayApp = "web_terminal"
	DisplayAppSSH            DisplayApp = "ssh_helper"
	DisplayAppPortForward    DisplayApp = "port_forwarding_helper"
)

// DefaultDisplayApps are the coder provider's defaults (2.x): what an
// agent without a display_apps block shows. Only VS Code Insiders is off.
func DefaultDisplayApps() ProvisionerDisplayApps {
	return ProvisionerDisplayApps{VSCode: true, WebTerminal: true, SSHHelper: true, PortForwardingHelper: true}
}

// DisplayAppList lists the apps d turns on, in a fixed order; nil (no
// display_apps block in the template) means the provider's defaults. The
// answer is never nil, so "none" encodes as [] rather than null.
func DisplayAppList(d *ProvisionerDisplayApps) []DisplayApp {
	if d == nil {
		def := DefaultDisplayApps()
		d = &def
	}
	out := []DisplayApp{}
	for _, on := range []struct {
		app DisplayApp
		on  bool
	}{
		{DisplayAppVSCodeDesktop, d.VSCode},
		{DisplayAppVSCodeInsiders, d.VSCodeInsiders},
		{DisplayAppWebTerminal, d.WebTerminal},
		{DisplayAppSSH, d.SSHHelper},
		{DisplayAppPortForward, d.PortForwardingHelper},
	} {
		if on.on {
			out = append(out, on.app)
		}
	}
	return out
}

// HasDisplayApp reports whether the template shows app for this agent.
// Display apps only hide the dashboard's buttons: the API does not refuse
// what they hide (as in the incumbent).
func (a WorkspaceAgent) HasDisplayApp(app DisplayApp) bool {
	for _, d := range a.DisplayApps {
		if d == app {
			return true
		}
	}
	return false
}
