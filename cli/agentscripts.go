package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/humanize"
)

// printAgentScripts prints each agent's scripts under `coder show`: the
// name, when it runs (at start, and whether login waits for it; at stop;
// its cron schedule), and how its latest run went (status, exit code,
// duration, age), or that it has not run.
func printAgentScripts(w io.Writer, resources []codersdk.WorkspaceResource, now time.Time) {
	for _, res := range resources {
		if res.Hide {
			continue
		}
		for _, a := range res.Agents {
			if len(a.Scripts) == 0 {
				continue
			}
			rows := make([][]string, 0, len(a.Scripts))
			for _, s := range a.Scripts {
				name := s.DisplayName
				if name == "" {
					name = "(unnamed)"
				}
				rows = append(rows, []string{name, s.When(), scriptLastRun(s.LastRun, now)})
			}
			fmt.Fprintf(w, "\nAgent %s scripts (startup: %s):\n", a.Name, a.StartupScriptBehavior)
			_ = writeTable(w, []string{"script", "runs", "last run"}, rows)
		}
	}
}

// scriptLastRun describes a run: "ok in 1.2s (start, 5m ago)",
// "failed, exit 3, after 0.4s (cron, just now)".
func scriptLastRun(r *codersdk.WorkspaceAgentScriptRun, now time.Time) string {
	if r == nil {
		return "not run yet"
	}
	took := humanize.Duration(r.EndedAt.Sub(r.StartedAt))
	var what string
	switch r.Status {
	case codersdk.AgentScriptStatusOK:
		what = "ok in " + took
	case codersdk.AgentScriptStatusExitFailure:
		what = fmt.Sprintf("failed, exit %d, after %s", r.ExitCode, took)
	case codersdk.AgentScriptStatusTimedOut:
		what = "timed out after " + took
	case codersdk.AgentScriptStatusPipesLeftOpen:
		what = "ok in " + took + ", but its output was left open"
	default:
		what = fmt.Sprintf("%s, exit %d, after %s", r.Status, r.ExitCode, took)
	}
	return fmt.Sprintf("%s (%s, %s)", what, r.Stage, humanize.Ago(now, r.EndedAt))
}
