package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// hiddenDisplayApps lists the built-in apps the provider shows by default
// that the agent's template turned off.
func hiddenDisplayApps(a codersdk.WorkspaceAgent) []string {
	var out []string
	for _, app := range codersdk.DisplayAppList(nil) {
		if !a.HasDisplayApp(app) {
			out = append(out, string(app))
		}
	}
	return out
}

// printWorkspaceDetails prints, after the summary and the agents table,
// what `coder show` adds for each resource and agent: the resource's
// coder_metadata items (sensitive values hidden), the agent's metadata, its
// scripts with their last runs, its apps with their addresses and health,
// and the ports it reports listening.
// A lookup that fails is reported in place; the rest is still printed.
func printWorkspaceDetails(ctx context.Context, w io.Writer, client *codersdk.Client, ws codersdk.Workspace) {
	resources := ws.LatestBuild.Resources
	for _, res := range resources {
		if res.Hide || len(res.Metadata) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s.%s:\n", res.Type, res.Name)
		for _, m := range res.Metadata {
			v := m.Value
			if m.Sensitive {
				v = "(sensitive)"
			}
			fmt.Fprintf(w, "  %s: %s\n", m.Key, v)
		}
	}
	printAgentMetadata(w, resources)
	printAgentScripts(w, resources, time.Now())

	var (
		host    codersdk.AppHostResponse
		hostErr error
		asked   bool
	)
	for _, res := range resources {
		if res.Hide {
			continue
		}
		for _, a := range res.Agents {
			if a.Status != codersdk.WorkspaceAgentConnected && a.TroubleshootingURL != "" {
				fmt.Fprintf(w, "\nAgent %s is %s; the template's troubleshooting guide: %s\n", a.Name, a.Status, a.TroubleshootingURL)
			}
			if hidden := hiddenDisplayApps(a); len(hidden) > 0 {
				fmt.Fprintf(w, "\nAgent %s: the template hides %s from the dashboard (display_apps)\n", a.Name, strings.Join(hidden, ", "))
			}
			var rows [][]string
			for _, app := range a.Apps {
				if app.Hidden {
					continue
				}
				if !asked {
					host, hostErr = client.AppHost(ctx)
					asked = true
				}
				where := ""
				if hostErr != nil {
					where = "(" + wrapAPI("address unknown", hostErr).Error() + ")"
				} else if href, note := codersdk.AppLink(client.URL, host, ws, a.Name, app); href != "" {
					where = href
				} else {
					where = "(" + note + ")"
				}
				health := string(app.Health)
				if app.Health == codersdk.WorkspaceAppHealthDisabled {
					health = "-"
				}
				rows = append(rows, []string{app.DisplayName, where, health, string(app.SharingLevel)})
			}
			if len(rows) > 0 {
				fmt.Fprintf(w, "\nAgent %s apps:\n", a.Name)
				_ = writeTable(w, []string{"app", "address", "health", "shared with"}, rows)
			}
			if a.Status != codersdk.WorkspaceAgentConnected {
				continue
			}
			ports, err := client.WorkspaceAgentListeningPorts(ctx, a.ID)
			if err != nil {
				fmt.Fprintf(w, "\nAgent %s ports: (%s)\n", a.Name, wrapAPI("unavailable", err))
				continue
			}
			if len(ports.Ports) == 0 {
				continue
			}
			if !asked {
				host, hostErr = client.AppHost(ctx)
				asked = true
			}
			rows = rows[:0]
			for _, p := range ports.Ports {
				href := ""
				if hostErr == nil {
					href = codersdk.PortLink(client.URL, host, ws, a.Name, p.Port)
				}
				rows = append(rows, []string{strconv.Itoa(int(p.Port)), p.ProcessName, href})
			}
			fmt.Fprintf(w, "\nAgent %s listening ports:\n", a.Name)
			_ = writeTable(w, []string{"port", "process", "address"}, rows)
		}
	}
}
