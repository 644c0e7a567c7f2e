package site

import (
	"fmt"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// stopsIn is the workspace page's autostop line for a workspace's latest
// build: "Stops in 1h 23m" while it runs with a deadline, "" otherwise.
func stopsIn(now time.Time, b codersdk.WorkspaceBuild) string {
	if b.Deadline == nil || b.Status != codersdk.WorkspaceStatusRunning {
		return ""
	}
	left := b.Deadline.Sub(now)
	switch {
	case left <= 0:
		return "Stopping soon (autostop is due)"
	case left < time.Minute:
		return "Stops in less than a minute"
	}
	left = left.Round(time.Minute)
	h, m := int(left.Hours()), int(left.Minutes())%60
	switch {
	case h == 0:
		return fmt.Sprintf("Stops in %dm", m)
	case m == 0:
		return fmt.Sprintf("Stops in %dh", h)
	}
	return fmt.Sprintf("Stops in %dh %dm", h, m)
}
