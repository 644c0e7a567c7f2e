package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) tokensCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Manage long-lived API tokens",
	}
	cmd.AddCommand(r.tokensCreateCmd(), r.tokensListCmd(), r.tokensRemoveCmd())
	return cmd
}

func (r *Root) tokensCreateCmd() *cobra.Command {
	var (
		name     string
		lifetime time.Duration
		user     string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a token; it is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := r.client()
			if err != nil {
				return err
			}
			res, err := client.CreateToken(cmd.Context(), user, codersdk.CreateTokenRequest{TokenName: name, Lifetime: lifetime})
			if err != nil {
				return fmt.Errorf("create token: %w", err)
			}
			fmt.Fprintln(r.Stdout, res.Key)
			return nil
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "Token name (unique per user).")
	cmd.Flags().DurationVar(&lifetime, "lifetime", 30*24*time.Hour, "How long the token is valid.")
	cmd.Flags().StringVar(&user, "user", codersdk.Me, "Create the token for this user (owners only, for others).")
	return cmd
}

func (r *Root) tokensListCmd() *cobra.Command {
	var (
		out  outputFormat
		user string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tokens",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			keys, err := client.Tokens(cmd.Context(), user)
			if err != nil {
				return err
			}
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, []string{k.ID, k.TokenName, k.LastUsed.Local().Format(time.DateTime), k.ExpiresAt.Local().Format(time.DateTime), k.CreatedAt.Local().Format(time.DateTime)})
			}
			return out.write(r.Stdout, keys, []string{"id", "name", "last used", "expires at", "created at"}, rows)
		},
	}
	cmd.Flags().StringVar(&user, "user", codersdk.Me, "List this user's tokens (owners only, for others).")
	out.attach(cmd)
	return cmd
}

func (r *Root) tokensRemoveCmd() *cobra.Command {
	var user string
	cmd := &cobra.Command{
		Use:     "remove NAME|ID",
		Aliases: []string{"rm", "delete"},
		Short:   "Revoke a token",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := r.client()
			if err != nil {
				return err
			}
			id := args[0]
			if k, err := client.APIKeyByName(ctx, user, args[0]); err == nil {
				id = k.ID
			} else if !codersdk.IsStatus(err, 404) {
				return err
			}
			if err := client.DeleteAPIKey(ctx, user, id); err != nil {
				return fmt.Errorf("remove token %q: %w", args[0], err)
			}
			fmt.Fprintf(r.Stdout, "Token %s removed.\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&user, "user", codersdk.Me, "Remove a token of this user (owners only, for others).")
	return cmd
}

func (r *Root) versionCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			info := map[string]string{"version": buildVersion(), "external_url": buildURL()}
			if out.format == "json" {
				return out.write(r.Stdout, info, nil, nil)
			}
			fmt.Fprintf(r.Stdout, "Coder %s\n%s\n", info["version"], info["external_url"])
			return nil
		},
	}
	out.attach(cmd)
	return cmd
}
