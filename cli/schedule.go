package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// parseStopAfter reads an autostop duration as `coder schedule stop` and
// `coder create --stop-after` take it: "3h2m", "90m", or a bare number of
// minutes ("2" is two minutes); "manual" (or 0) turns autostop off (nil).
func parseStopAfter(s string) (*int64, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "manual") {
		return nil, nil
	}
	var d time.Duration
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		d = time.Duration(n) * time.Minute
	} else if d, err = time.ParseDuration(s); err != nil {
		return nil, fmt.Errorf("invalid duration %q: use e.g. 8h, 2h30m, 90 (minutes) or manual", s)
	}
	switch {
	case d == 0:
		return nil, nil
	case d < codersdk.MinTTL:
		return nil, fmt.Errorf("duration %s is too short: autostop needs at least %s (or manual)", d, codersdk.MinTTL)
	case d > codersdk.MaxTTL:
		return nil, fmt.Errorf("duration %s is too long: at most %s (30 days)", d, codersdk.MaxTTL)
	}
	ms := d.Milliseconds()
	return &ms, nil
}

// formatTTL is a ttl for people: "8h", "2h30m", or "manual".
func formatTTL(ms *int64) string {
	if ms == nil || *ms == 0 {
		return "manual"
	}
	return shortDuration(time.Duration(*ms) * time.Millisecond)
}

// shortDuration drops the zero units Go prints: 2h0m0s is "2h".
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// stopsIn says when a running workspace stops by itself: "in 1h23m", or
// "" when it does not (not running, or no deadline).
func stopsIn(ws codersdk.Workspace, now time.Time) string {
	b := ws.LatestBuild
	if b.Deadline == nil || b.Status != codersdk.WorkspaceStatusRunning {
		return ""
	}
	left := b.Deadline.Sub(now)
	if left <= 0 {
		return "now (autostop is due)"
	}
	if left < time.Minute {
		return "in less than a minute"
	}
	return "in " + shortDuration(left.Round(time.Minute))
}

// scheduleRow is what `coder schedule show` prints for a workspace.
type scheduleRow struct {
	Workspace  string     `json:"workspace"`
	StopsAfter string     `json:"stops_after"`
	TTLMillis  *int64     `json:"ttl_ms"`
	StopsNext  *time.Time `json:"stops_next,omitempty"`
	StopsIn    string     `json:"stops_in,omitempty"`
}

func (r *Root) scheduleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule { show | stop | extend } WORKSPACE",
		Short: "Show or change when workspaces stop by themselves (autostop)",
		Long: `A workspace with an autostop duration (its ttl) stops by itself that long
after its start build completes. Activity (an open SSH session, the web
terminal, an app) pushes the stop back to now + the duration. New workspaces
take the template's default ('coder templates edit --default-ttl').`,
	}
	cmd.AddCommand(r.scheduleShowCmd(), r.scheduleStopCmd(), r.scheduleExtendCmd())
	return cmd
}

func (r *Root) scheduleShowCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:     "show WORKSPACE",
		Short:   "Show a workspace's autostop duration and when it next stops",
		Example: "  coder schedule show dev",
		Args:    cobra.ExactArgs(1),
		RunE: r.withWorkspace(&out, func(_ context.Context, _ *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			row := scheduleRow{Workspace: workspaceLabel(ws), StopsAfter: formatTTL(ws.TTLMillis), TTLMillis: ws.TTLMillis, StopsIn: stopsIn(ws, time.Now())}
			next := "-"
			if row.StopsIn != "" {
				row.StopsNext = ws.LatestBuild.Deadline
				next = fmt.Sprintf("%s (%s)", formatTime(*row.StopsNext), row.StopsIn)
			}
			return out.write(r.Stdout, row, []string{"workspace", "stops after", "stops next"}, [][]string{{row.Workspace, row.StopsAfter, next}})
		}),
	}
	out.attach(cmd)
	return cmd
}

func (r *Root) scheduleStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop WORKSPACE { DURATION | manual }",
		Short: "Set how long a workspace runs after it starts before it stops by itself",
		Long: `Set the workspace's autostop duration: 3h2m, 3h, 2m, or a bare number of
minutes (2 is two minutes); at least 1m, at most 30 days. "manual" turns
autostop off. A running workspace's next stop moves with it: the time its
start build completed plus the new duration.`,
		Example: "  coder schedule stop dev 2h30m\n  coder schedule stop dev manual",
		Args:    cobra.ExactArgs(2),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, args []string) error {
			ttl, err := parseStopAfter(args[1])
			if err != nil {
				return err
			}
			if err := client.UpdateWorkspaceTTL(ctx, ws.ID, codersdk.UpdateWorkspaceTTLRequest{TTLMillis: ttl}); err != nil {
				return wrapAPI("set the autostop of "+workspaceLabel(ws), err)
			}
			ws, err = client.Workspace(ctx, ws.ID)
			if err != nil {
				return wrapAPI("get workspace "+workspaceLabel(ws), err)
			}
			msg := fmt.Sprintf("%s now stops %s after each start", workspaceLabel(ws), formatTTL(ws.TTLMillis))
			if ws.TTLMillis == nil {
				msg = workspaceLabel(ws) + " now runs until stopped by hand (autostop off)"
			}
			if in := stopsIn(ws, time.Now()); in != "" {
				msg += "; it stops " + in
			}
			fmt.Fprintln(r.Stdout, msg+".")
			return nil
		}),
	}
}

func (r *Root) scheduleExtendCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "extend WORKSPACE DURATION",
		Aliases: []string{"override-stop"},
		Short:   "Move a running workspace's next stop to DURATION from now",
		Long: `Move the next autostop of a running workspace to DURATION from now (3h,
90m, or a bare number of minutes), at least 30 minutes and at most 30 days
ahead. Its autostop duration is unchanged: the next start uses it again.`,
		Example: "  coder schedule extend dev 90m",
		Args:    cobra.ExactArgs(2),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, args []string) error {
			ttl, err := parseStopAfter(args[1])
			if err != nil {
				return err
			}
			if ttl == nil {
				return fmt.Errorf("extend needs a duration from now; to turn autostop off use: coder schedule stop %s manual", args[0])
			}
			deadline := time.Now().Add(time.Duration(*ttl) * time.Millisecond)
			if err := client.PutExtendWorkspace(ctx, ws.ID, codersdk.PutExtendWorkspaceRequest{Deadline: deadline}); err != nil {
				return wrapAPI("extend "+workspaceLabel(ws), err)
			}
			fmt.Fprintf(r.Stdout, "%s now stops at %s (in %s).\n", workspaceLabel(ws), formatTime(deadline), shortDuration(time.Duration(*ttl)*time.Millisecond))
			return nil
		}),
	}
}
