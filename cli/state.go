package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) stateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Read or replace a workspace's Terraform state (template admins)",
		Long: `A workspace's Terraform state is stored with each build. Template admins can
download it (to inspect it, or repair it with terraform state commands) and
replace the latest build's state; the workspace's next build starts from it.
The state holds the workspace's secrets: keep the file safe.`,
	}
	cmd.AddCommand(r.statePullCmd(), r.statePushCmd())
	return cmd
}

func (r *Root) statePullCmd() *cobra.Command {
	var build int
	cmd := &cobra.Command{
		Use:     "pull WORKSPACE [FILE]",
		Short:   "Write a build's Terraform state (the latest, or --build N) to FILE or stdout",
		Example: "  coder state pull dev dev.tfstate\n  coder state pull alice/dev --build 3 | jq .resources",
		Args:    cobra.RangeArgs(1, 2),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, args []string) error {
			b, err := buildByNumber(ctx, client, ws, build)
			if err != nil {
				return err
			}
			state, err := client.WorkspaceBuildState(ctx, b.ID)
			if err != nil {
				return wrapAPI(fmt.Sprintf("get the state of build #%d", b.BuildNumber), err)
			}
			if len(args) < 2 || args[1] == "-" {
				_, err := r.Stdout.Write(state)
				return err
			}
			// 0600: the state holds secrets.
			if err := os.WriteFile(args[1], state, 0o600); err != nil {
				return fmt.Errorf("write %s: %w", args[1], err)
			}
			fmt.Fprintf(r.Stderr, "Wrote the state of build #%d of %s to %s.\n", b.BuildNumber, workspaceLabel(ws), args[1])
			return nil
		}),
	}
	cmd.Flags().IntVarP(&build, "build", "b", 0, "Build number (default: the latest build).")
	return cmd
}

func (r *Root) statePushCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "push WORKSPACE FILE",
		Short: "Replace the latest build's Terraform state with FILE (- for stdin); the next build starts from it",
		Args:  cobra.ExactArgs(2),
		RunE: r.withWorkspace(nil, func(ctx context.Context, client *codersdk.Client, ws codersdk.Workspace, args []string) error {
			var (
				data []byte
				err  error
			)
			if args[1] == "-" {
				data, err = io.ReadAll(r.Stdin)
			} else {
				data, err = os.ReadFile(args[1])
			}
			if err != nil {
				return fmt.Errorf("read state: %w", err)
			}
			var probe struct {
				Version *int `json:"version"`
			}
			if err := json.Unmarshal(data, &probe); err != nil || probe.Version == nil {
				return fmt.Errorf("%s is not a Terraform state (a JSON object with a \"version\" field)", args[1])
			}
			b := ws.LatestBuild
			in := newPrompter(r.Stdin, r.Stderr)
			if args[1] == "-" {
				in = newPrompter(nil, r.Stderr) // stdin holds the state, not an answer
			}
			if err := r.confirm(in, yes, true, fmt.Sprintf("Replace the Terraform state of %s (build #%d)?", workspaceLabel(ws), b.BuildNumber)); err != nil {
				return err
			}
			if err := client.PutWorkspaceBuildState(ctx, b.ID, data); err != nil {
				return wrapAPI(fmt.Sprintf("replace the state of build #%d", b.BuildNumber), err)
			}
			fmt.Fprintf(r.Stdout, "Replaced the state of %s (build #%d); its next build starts from it: coder restart %s\n", workspaceLabel(ws), b.BuildNumber, workspaceLabel(ws))
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	return cmd
}
