package cli

import (
	"context"
	"fmt"
	"net/http"
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
		RunE: r.withClient(nil, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			res, err := client.CreateToken(ctx, user, codersdk.CreateTokenRequest{TokenName: name, Lifetime: lifetime})
			if err != nil {
				return wrapAPI("create token", err)
			}
			fmt.Fprintln(r.Stdout, res.Key)
			return nil
		}),
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
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			keys, err := client.Tokens(ctx, user)
			if err != nil {
				return wrapAPI("list tokens", err)
			}
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, []string{k.ID, k.TokenName, formatTime(k.LastUsed), formatTime(k.ExpiresAt), formatTime(k.CreatedAt)})
			}
			return out.write(r.Stdout, keys, []string{"id", "name", "last used", "expires at", "created at"}, rows)
		}),
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
		RunE: r.withClient(nil, func(ctx context.Context, client *codersdk.Client, args []string) error {
			id := args[0]
			if k, err := client.APIKeyByName(ctx, user, args[0]); err == nil {
				id = k.ID
			} else if !codersdk.IsStatus(err, http.StatusNotFound) {
				return wrapAPI(fmt.Sprintf("find token %q", args[0]), err)
			}
			if err := client.DeleteAPIKey(ctx, user, id); err != nil {
				return wrapAPI(fmt.Sprintf("remove token %q", args[0]), err)
			}
			fmt.Fprintf(r.Stdout, "Token %s removed.\n", args[0])
			return nil
		}),
	}
	cmd.Flags().StringVar(&user, "user", codersdk.Me, "Remove a token of this user (owners only, for others).")
	return cmd
}
