package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) updateCmd() *cobra.Command {
	var (
		params parameterFlags
		yes    bool
		prompt bool
	)
	cmd := &cobra.Command{
		Use:   "update NAME",
		Short: "Rebuild a workspace on its template's active version, following the build",
		Long: `Start a build of the workspace on the template's active version (its
"outdated" flag clears). Parameter values carry over from the last build;
parameters the new version adds are asked for on a terminal (elsewhere their
defaults apply, and a required one without a value is an error). Change
others with --parameter, or be asked for every mutable one with
--always-prompt.`,
		Example: "  coder update dev\n  coder update dev --parameter cpus=4 -y",
		Args:    cobra.ExactArgs(1),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, _ []string) error {
			given, err := params.collect()
			if err != nil {
				return err
			}
			if !ws.Outdated && len(given) == 0 && !prompt {
				fmt.Fprintf(r.Stderr, "Workspace %s is already on the template's active version (%s).\n", workspaceLabel(ws), ws.LatestBuild.TemplateVersionName)
				return nil
			}
			defs, err := client.TemplateVersionRichParameters(ctx, ws.TemplateActiveVersionID)
			if err != nil {
				return wrapAPI("get the active version's parameters", err)
			}
			previous, err := client.WorkspaceBuildParameters(ctx, ws.LatestBuild.ID)
			if err != nil {
				return wrapAPI("get the last build's parameters", err)
			}
			had := map[string]bool{}
			for _, p := range previous {
				had[p.Name] = true
			}
			// Ask only about what is new (or, with --always-prompt, every
			// value the user may still change); the server carries the rest.
			var ask []codersdk.TemplateVersionParameter
			for _, d := range defs {
				if _, ok := given[d.Name]; ok || !had[d.Name] || (prompt && d.Mutable) {
					ask = append(ask, d)
				}
			}
			in := newPrompter(r.Stdin, r.Stderr)
			values, err := resolveParameters(ask, given, in, r.Stderr)
			if err != nil {
				return err
			}
			if err := r.confirm(in, yes, false, fmt.Sprintf("Rebuild workspace %s on the template's active version?", workspaceLabel(ws))); err != nil {
				return err
			}
			if _, err := r.build(ctx, client, ws, codersdk.CreateWorkspaceBuildRequest{
				Transition: codersdk.WorkspaceTransitionStart, TemplateVersionID: ws.TemplateActiveVersionID, RichParameterValues: values,
			}); err != nil {
				return err
			}
			fmt.Fprintf(r.Stdout, "\nThe %s workspace is running on the template's active version.\n", workspaceLabel(ws))
			return nil
		}),
	}
	fs := cmd.Flags()
	params.attach(fs, r.Getenv)
	fs.BoolVar(&prompt, "always-prompt", false, "Ask for every mutable parameter, not only new ones (on a terminal).")
	fs.BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}
