package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// splitWorkspaceName reads "owner/name" or "name" (the caller's own).
func splitWorkspaceName(s string) (owner, name string) {
	if o, n, ok := strings.Cut(s, "/"); ok && o != "" {
		return o, n
	}
	return codersdk.Me, strings.TrimPrefix(s, "/")
}

// workspaceByName finds a workspace from a NAME or OWNER/NAME argument.
func workspaceByName(ctx context.Context, client *codersdk.Client, arg string) (codersdk.Workspace, error) {
	owner, name := splitWorkspaceName(arg)
	return lookupWorkspace(ctx, client, owner, name, arg)
}

// lookupWorkspace fetches owner's workspace name; arg is how the user named
// it, for messages.
func lookupWorkspace(ctx context.Context, client *codersdk.Client, owner, name, arg string) (codersdk.Workspace, error) {
	ws, err := client.WorkspaceByOwnerAndName(ctx, owner, name)
	if codersdk.IsStatus(err, http.StatusNotFound) {
		return ws, fmt.Errorf("workspace %q not found: 'coder list' shows yours, 'coder list --all' all you can see", arg)
	}
	if err != nil {
		return ws, wrapAPI("get workspace "+arg, err)
	}
	return ws, nil
}

func workspaceLabel(ws codersdk.Workspace) string { return ws.OwnerName + "/" + ws.Name }

// followBuild streams a build to its end and fails unless it succeeded.
func (r *Root) followBuild(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, b codersdk.WorkspaceBuild) (codersdk.WorkspaceBuild, error) {
	job, err := r.followJob(ctx, buildSource(client, b))
	b.Job = job
	if errors.Is(err, errInterrupted) {
		return b, r.interrupted("Stopped following build #%d of %s; it goes on.\n  Follow it again: coder logs %s -f\n  Cancel it:       coder cancel %s",
			b.BuildNumber, workspaceLabel(ws), workspaceLabel(ws), workspaceLabel(ws))
	}
	if err != nil {
		return b, fmt.Errorf("follow build #%d: %w", b.BuildNumber, err)
	}
	return b, buildResult(ws, b)
}

// buildResult is nil for a successful build and says why one ended
// otherwise, with Terraform's error.
func buildResult(ws codersdk.Workspace, b codersdk.WorkspaceBuild) error {
	what := fmt.Sprintf("build #%d (%s) of %s", b.BuildNumber, b.Transition, workspaceLabel(ws))
	switch b.Job.Status {
	case codersdk.ProvisionerJobSucceeded:
		return nil
	case codersdk.ProvisionerJobCanceled:
		return fmt.Errorf("%s was canceled", what)
	}
	msg := strings.TrimSpace(b.Job.Error)
	if msg == "" {
		msg = "no error message (job status " + string(b.Job.Status) + ")"
	}
	return fmt.Errorf("%s failed:\n%s", what, msg)
}

// build queues a transition and follows it to the end.
func (r *Root) build(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, req codersdk.CreateWorkspaceBuildRequest) (codersdk.WorkspaceBuild, error) {
	req.Reason = codersdk.BuildReasonCLI
	b, err := client.CreateWorkspaceBuild(ctx, ws.ID, req)
	if err != nil {
		return b, wrapAPI(fmt.Sprintf("%s %s", req.Transition, workspaceLabel(ws)), err)
	}
	fmt.Fprintf(r.Stderr, "Build #%d (%s) of %s queued.\n", b.BuildNumber, req.Transition, workspaceLabel(ws))
	b, err = r.followBuild(ctx, client, ws, b)
	if err != nil && req.Orphan && b.Job.Status == codersdk.ProvisionerJobCanceled {
		return b, nil // an orphan delete runs no Terraform: its job ends "canceled" by design
	}
	return b, err
}

func (r *Root) createCmd() *cobra.Command {
	var (
		template  string
		org       orgFlag
		params    parameterFlags
		yes       bool
		preset    string
		stopAfter string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a workspace from a template and follow its first build",
		Long: `Create a workspace (NAME, or OWNER/NAME for someone else's) from a template's
active version, then stream the build's logs until it ends.

Parameter values come from --parameter and --rich-parameter-file, then from
a preset (--preset, or the template's default one); on a terminal the others
are asked for, elsewhere the template's defaults apply and
a required parameter without a value is an error.`,
		Example: "  coder create dev --template docker --parameter region=eu\n  coder create dev -t docker --rich-parameter-file params.yaml -y",
		Args:    cobra.ExactArgs(1),
		RunE: r.withClient(nil, func(ctx context.Context, client *codersdk.Client, args []string) error {
			given, err := params.collect()
			if err != nil {
				return err
			}
			var ttl *int64 // nil: the template's default
			if stopAfter != "" {
				if ttl, err = parseStopAfter(stopAfter); err != nil {
					return fmt.Errorf("--stop-after: %w", err)
				}
				if ttl == nil {
					ttl = new(int64) // manual: explicitly none
				}
			}
			in := newPrompter(r.Stdin, r.Stderr)
			o, err := org.resolve(ctx, client)
			if err != nil {
				return err
			}
			if template == "" {
				if template, err = r.chooseTemplate(ctx, client, in, o.ID); err != nil {
					return err
				}
			}
			tmpl, err := templateByName(ctx, client, o.ID, template)
			if err != nil {
				return err
			}
			defs, err := client.TemplateVersionRichParameters(ctx, tmpl.ActiveVersionID)
			if err != nil {
				return wrapAPI("get the template's parameters", err)
			}
			if _, err := applyPreset(ctx, client, tmpl.ActiveVersionID, preset, given, r.Stderr); err != nil {
				return err
			}
			values, err := resolveParameters(defs, given, in, r.Stderr)
			if err != nil {
				return err
			}
			owner, name := splitWorkspaceName(args[0])
			if err := r.confirm(in, yes, false, fmt.Sprintf("Create workspace %s from template %s?", args[0], tmpl.Name)); err != nil {
				return err
			}
			ws, err := client.CreateUserWorkspace(ctx, owner, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: name, RichParameterValues: values, TTLMillis: ttl})
			if err != nil {
				return wrapAPI("create workspace "+args[0], err)
			}
			fmt.Fprintf(r.Stderr, "Workspace %s created; its first build is queued.\n", workspaceLabel(ws))
			if _, err := r.followBuild(ctx, client, ws, ws.LatestBuild); err != nil {
				return err
			}
			fmt.Fprintf(r.Stdout, "\nThe %s workspace is ready. Connect with: coder ssh %s\n", workspaceLabel(ws), args[0])
			return nil
		}),
	}
	fs := cmd.Flags()
	fs.StringVarP(&template, "template", "t", getenvOr(r.Getenv, "CODER_TEMPLATE_NAME"),
		envUsage("Template to create the workspace from (asked for on a terminal when missing).", "CODER_TEMPLATE_NAME"))
	org.attach(fs, r.Getenv)
	params.attach(fs, r.Getenv)
	fs.StringVar(&preset, "preset", getenvOr(r.Getenv, "CODER_PRESET_NAME"),
		envUsage("Template preset whose parameter values to use (--parameter still wins); default: the template's default preset, if any; \"none\" for none.", "CODER_PRESET_NAME"))
	fs.StringVar(&stopAfter, "stop-after", getenvOr(r.Getenv, "CODER_WORKSPACE_STOP_AFTER"),
		envUsage("Stop the workspace this long after each start (e.g. 2h, 90 for minutes, or manual); default: the template's default autostop.", "CODER_WORKSPACE_STOP_AFTER"))
	fs.BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}

var workspaceHeader = []string{"workspace", "template", "status", "last built", "outdated", "stops"}

func workspaceRows(wss []codersdk.Workspace) [][]string {
	rows := make([][]string, 0, len(wss))
	for _, ws := range wss {
		outdated := ""
		if ws.Outdated {
			outdated = "yes"
		}
		rows = append(rows, []string{workspaceLabel(ws), ws.TemplateName, string(ws.LatestBuild.Status), relativeTime(ws.LatestBuild.CreatedAt), outdated, stopsIn(ws, time.Now())})
	}
	return rows
}

func (r *Root) listCmd() *cobra.Command {
	var (
		out outputFormat
		all bool
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your workspaces (--all: every workspace you can see)",
		Args:    cobra.NoArgs,
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			f := codersdk.WorkspaceFilter{Owner: codersdk.Me}
			if all {
				f.Owner = ""
			}
			res, err := client.Workspaces(ctx, f)
			if err != nil {
				return wrapAPI("list workspaces", err)
			}
			if out.format == "table" && len(res.Workspaces) == 0 {
				fmt.Fprintln(r.Stderr, "No workspaces yet. Create one with: coder create NAME --template TEMPLATE")
				return nil
			}
			return out.write(r.Stdout, res.Workspaces, workspaceHeader, workspaceRows(res.Workspaces))
		}),
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "List every workspace you are allowed to see, not just yours.")
	out.attach(cmd)
	return cmd
}

func (r *Root) showCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a workspace: its latest build, resources, agents, metadata, apps and ports",
		Args:  cobra.ExactArgs(1),
		RunE: r.withWorkspace(&out, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			if out.format == "json" {
				return out.write(r.Stdout, ws, nil, nil)
			}
			if err := r.printWorkspace(ws); err != nil {
				return err
			}
			printWorkspaceDetails(ctx, r.Stdout, client, ws)
			return nil
		}),
	}
	out.attach(cmd)
	return cmd
}

func (r *Root) printWorkspace(ws codersdk.Workspace) error {
	b := ws.LatestBuild
	version := b.TemplateVersionName
	if ws.Outdated {
		version += ", outdated"
	}
	summary := [][]string{
		{"Workspace:", workspaceLabel(ws)},
		{"Template:", fmt.Sprintf("%s (version %s)", ws.TemplateName, version)},
		{"Status:", string(b.Status)},
		{"Latest build:", fmt.Sprintf("#%d %s by %s, %s (job %s)", b.BuildNumber, b.Transition, b.InitiatorUsername, relativeTime(b.CreatedAt), b.Job.Status)},
	}
	if in := stopsIn(ws, time.Now()); in != "" {
		summary = append(summary, []string{"Autostop:", fmt.Sprintf("stops %s, at %s (after %s)", in, formatTime(*b.Deadline), formatTTL(ws.TTLMillis))})
	} else if b.Reason == codersdk.BuildReasonAutostop {
		summary = append(summary, []string{"Autostop:", "stopped automatically (autostop)"})
	}
	if b.Job.Error != "" {
		summary = append(summary, []string{"Error:", firstLine(b.Job.Error)})
	}
	for _, row := range summary {
		fmt.Fprintf(r.Stdout, "%-14s %s\n", row[0], row[1])
	}
	var rows [][]string
	for _, res := range b.Resources {
		if res.Hide {
			continue
		}
		id := res.Type + "." + res.Name
		if len(res.Agents) == 0 {
			rows = append(rows, []string{id, "", "", "", ""})
		}
		for _, a := range res.Agents {
			rows = append(rows, []string{id, a.Name, string(a.Status), string(a.LifecycleState), a.OperatingSystem + "/" + a.Architecture})
		}
	}
	if len(rows) == 0 {
		fmt.Fprintln(r.Stdout, "\nNo resources.")
		return nil
	}
	fmt.Fprintln(r.Stdout)
	return writeTable(r.Stdout, []string{"resource", "agent", "status", "lifecycle", "os/arch"}, rows)
}

// transitionCmd makes start and stop: one build each.
func (r *Root) transitionCmd(transition codersdk.WorkspaceTransition, short string) *cobra.Command {
	var yes bool
	verb := string(transition)
	cmd := &cobra.Command{
		Use:   verb + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			done := codersdk.WorkspaceStatusRunning
			if transition == codersdk.WorkspaceTransitionStop {
				done = codersdk.WorkspaceStatusStopped
			}
			if ws.LatestBuild.Status == done {
				fmt.Fprintf(r.Stderr, "Workspace %s is already %s.\n", workspaceLabel(ws), done)
				return nil
			}
			in := newPrompter(r.Stdin, r.Stderr)
			if err := r.confirm(in, yes, transition == codersdk.WorkspaceTransitionStop, fmt.Sprintf("%s workspace %s?", titleCase(verb), workspaceLabel(ws))); err != nil {
				return err
			}
			if _, err := r.build(ctx, client, ws, codersdk.CreateWorkspaceBuildRequest{Transition: transition}); err != nil {
				return err
			}
			fmt.Fprintf(r.Stdout, "\nThe %s workspace is %s.\n", workspaceLabel(ws), done)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}

func (r *Root) startCmd() *cobra.Command {
	return r.transitionCmd(codersdk.WorkspaceTransitionStart, "Start a workspace and follow the build")
}

func (r *Root) stopCmd() *cobra.Command {
	return r.transitionCmd(codersdk.WorkspaceTransitionStop, "Stop a workspace and follow the build")
}

func (r *Root) restartCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "restart NAME",
		Short: "Stop then start a workspace, following both builds",
		Args:  cobra.ExactArgs(1),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			in := newPrompter(r.Stdin, r.Stderr)
			if err := r.confirm(in, yes, true, fmt.Sprintf("Restart workspace %s?", workspaceLabel(ws))); err != nil {
				return err
			}
			if ws.LatestBuild.Status != codersdk.WorkspaceStatusStopped {
				if _, err := r.build(ctx, client, ws, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop}); err != nil {
					return err
				}
			}
			if _, err := r.build(ctx, client, ws, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStart}); err != nil {
				return err
			}
			fmt.Fprintf(r.Stdout, "\nThe %s workspace has been restarted.\n", workspaceLabel(ws))
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}

func (r *Root) deleteCmd() *cobra.Command {
	var yes, orphan bool
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a workspace: destroy its resources, following the build",
		Long: `Delete a workspace. A delete is a build: Terraform destroys the resources,
and its logs are streamed until it ends.

--orphan deletes the workspace without running Terraform, leaving whatever
infrastructure exists behind (for resources already gone, or a template that
can no longer run). Owners and template admins only.`,
		Args: cobra.ExactArgs(1),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			q := fmt.Sprintf("Delete workspace %s and destroy its resources?", workspaceLabel(ws))
			if orphan {
				q = fmt.Sprintf("Delete workspace %s WITHOUT destroying its resources (orphan)?", workspaceLabel(ws))
			}
			if err := r.confirm(newPrompter(r.Stdin, r.Stderr), yes, true, q); err != nil {
				return err
			}
			if _, err := r.build(ctx, client, ws, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionDelete, Orphan: orphan}); err != nil {
				return err
			}
			fmt.Fprintf(r.Stdout, "\nThe %s workspace has been deleted.\n", workspaceLabel(ws))
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	cmd.Flags().BoolVar(&orphan, "orphan", false, "Delete without running Terraform; resources are left behind.")
	return cmd
}

func (r *Root) cancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel NAME",
		Short: "Cancel a workspace's build in progress",
		Long:  "Cancel the workspace's queued or running build. Terraform is interrupted; the workspace keeps its last good state.",
		Args:  cobra.ExactArgs(1),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			b := ws.LatestBuild
			if !b.Job.Status.Active() {
				fmt.Fprintf(r.Stderr, "Workspace %s has no build in progress (build #%d is %s).\n", workspaceLabel(ws), b.BuildNumber, b.Job.Status)
				return nil
			}
			if err := client.CancelWorkspaceBuild(ctx, b.ID); err != nil {
				return wrapAPI(fmt.Sprintf("cancel build #%d", b.BuildNumber), err)
			}
			fmt.Fprintf(r.Stdout, "Canceling build #%d of %s. Follow it with: coder logs %s -f\n", b.BuildNumber, workspaceLabel(ws), workspaceLabel(ws))
			return nil
		}),
	}
}
