package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// This file is the scaffolding most commands share: checking -o, building
// the client and finding the workspace named by the first argument, so
// each command's RunE holds only what it does.

// withClient is the RunE of a command that talks to the deployment. It
// checks the output format (when out is not nil), builds the client from
// flags, env or the saved session, and runs run with the command's
// context.
func (r *Root) withClient(out *outputFormat, run func(ctx context.Context, client *codersdk.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if out != nil {
			if err := out.validate(); err != nil {
				return err
			}
		}
		client, err := r.client()
		if err != nil {
			return err
		}
		return run(cmd.Context(), client, args)
	}
}

// withWorkspace is withClient for a command whose first argument names a
// workspace (NAME or OWNER/NAME): run gets the workspace.
func (r *Root) withWorkspace(out *outputFormat, run func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, args []string) error) func(*cobra.Command, []string) error {
	return r.withClient(out, func(ctx context.Context, client *codersdk.Client, args []string) error {
		ws, err := workspaceByName(ctx, client, args[0])
		if err != nil {
			return err
		}
		return run(ctx, client, ws, args)
	})
}
