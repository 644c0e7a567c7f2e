package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) logsCmd() *cobra.Command {
	var (
		follow bool
		number int
	)
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Show the provisioner logs of a workspace's latest build (or --build N)",
		Long: `Show a workspace build's logs: Terraform's init, plan and apply output.
With -f the command follows a build in progress until it ends; Ctrl-C stops
following without affecting the build.`,
		Example: "  coder logs dev\n  coder logs alice/dev --build 3\n  coder logs dev -f",
		Args:    cobra.ExactArgs(1),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			b, err := buildByNumber(ctx, client, ws, number)
			if err != nil {
				return err
			}
			fmt.Fprintf(r.Stderr, "Build #%d (%s) of %s, by %s:\n", b.BuildNumber, b.Transition, workspaceLabel(ws), b.InitiatorUsername)
			if !follow || !b.Job.Status.Active() {
				return r.printLogs(ctx, client, ws, b)
			}
			job, err := r.followJob(ctx, buildSource(client, b))
			if errors.Is(err, errInterrupted) {
				return r.interrupted("Stopped following build #%d of %s; it goes on.", b.BuildNumber, workspaceLabel(ws))
			}
			if err != nil {
				return fmt.Errorf("follow build #%d: %w", b.BuildNumber, err)
			}
			b.Job = job
			r.printBuildOutcome(ws, b)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "Follow a build in progress until it ends.")
	cmd.Flags().IntVarP(&number, "build", "b", 0, "Build number (default: the latest build).")
	return cmd
}

// buildByNumber returns the workspace's build number n, or its latest for 0.
func buildByNumber(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, n int) (codersdk.WorkspaceBuild, error) {
	latest := ws.LatestBuild
	if n == 0 || int32(n) == latest.BuildNumber {
		return latest, nil
	}
	if n < 0 || int32(n) > latest.BuildNumber {
		return latest, fmt.Errorf("workspace %s has no build #%d: its builds are #1 to #%d", workspaceLabel(ws), n, latest.BuildNumber)
	}
	builds, err := client.WorkspaceBuilds(ctx, ws.ID)
	if err != nil {
		return latest, wrapAPI("list builds", err)
	}
	for _, b := range builds {
		if b.BuildNumber == int32(n) {
			return b, nil
		}
	}
	return latest, fmt.Errorf("workspace %s has no build #%d", workspaceLabel(ws), n)
}

// printLogs prints the logs stored so far and how the build ended.
func (r *Root) printLogs(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, b codersdk.WorkspaceBuild) error {
	ch, errFn, err := client.WorkspaceBuildLogsAfter(ctx, b.ID, 0, false)
	if err != nil {
		return wrapAPI("get logs", err)
	}
	p := &logRenderer{w: r.Stdout, color: r.colorable(r.Stdout)}
	for l := range ch {
		p.line(l)
	}
	if err := errFn(); err != nil {
		return wrapAPI("get logs", err)
	}
	if b.Job.Status.Active() {
		fmt.Fprintf(r.Stderr, "Build #%d is %s; follow it with: coder logs %s -f\n", b.BuildNumber, b.Job.Status, workspaceLabel(ws))
		return nil
	}
	r.printBuildOutcome(ws, b)
	return nil
}

// printBuildOutcome says how a finished build ended (the command itself
// succeeds: it only shows logs).
func (r *Root) printBuildOutcome(ws codersdk.Workspace, b codersdk.WorkspaceBuild) {
	if err := buildResult(ws, b); err != nil {
		fmt.Fprintf(r.Stderr, "%s\n", titleCase(err.Error()))
		return
	}
	fmt.Fprintf(r.Stderr, "Build #%d (%s) of %s %s.\n", b.BuildNumber, b.Transition, workspaceLabel(ws), strings.ReplaceAll(string(b.Job.Status), "_", " "))
}
