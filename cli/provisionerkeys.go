package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// This file is `coder provisioner keys`: the credentials (and tags) of
// provisioner daemon fleets.

func (r *Root) provisionerKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Manage provisioner keys: the credentials (and tags) of daemon fleets",
	}
	cmd.AddCommand(r.provisionerKeysCreateCmd(), r.provisionerKeysListCmd(), r.provisionerKeysDeleteCmd())
	return cmd
}

func (r *Root) provisionerKeysCreateCmd() *cobra.Command {
	var (
		org     orgFlag
		rawTags []string
	)
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a provisioner key; it is printed once",
		Example: "  coder provisioner keys create gpu-fleet --tag gpu=true --tag region=eu",
		Args:    cobra.ExactArgs(1),
		RunE: r.withOrg(nil, &org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error {
			tags, err := parseProvisionerTags(rawTags)
			if err != nil {
				return err
			}
			res, err := client.CreateProvisionerKey(ctx, o.ID, codersdk.CreateProvisionerKeyRequest{Name: args[0], Tags: tags})
			if err != nil {
				return wrapAPI(fmt.Sprintf("create provisioner key %q", args[0]), err)
			}
			fmt.Fprintln(r.Stdout, res.Key)
			fmt.Fprintf(r.Stderr, "\nProvisioner key %q created in organization %s. It is shown only this once: store it now.\n"+
				"Start daemons with it:\n  %s=<key> coder provisioner start --url %s\n", args[0], o.Name, envProvisionerKey, client.URL)
			return nil
		}),
	}
	org.attach(cmd.Flags(), r.Getenv)
	cmd.Flags().StringArrayVar(&rawTags, "tag", nil, "Tag key=value of the daemons using this key, repeatable. They run only jobs whose tags they all have (templates pushed with --tag), never untagged ones.")
	return cmd
}

func (r *Root) provisionerKeysDeleteCmd() *cobra.Command {
	var org orgFlag
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm", "remove"},
		Short:   "Delete a provisioner key; daemons using it are refused from then on",
		Args:    cobra.ExactArgs(1),
		RunE: r.withOrg(nil, &org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error {
			if err := client.DeleteProvisionerKey(ctx, o.ID, args[0]); err != nil {
				return wrapAPI(fmt.Sprintf("delete provisioner key %q", args[0]), err)
			}
			fmt.Fprintf(r.Stdout, "Provisioner key %s deleted.\n", args[0])
			return nil
		}),
	}
	org.attach(cmd.Flags(), r.Getenv)
	return cmd
}

func (r *Root) provisionerKeysListCmd() *cobra.Command {
	return orgListCmd(r, orgList[codersdk.ProvisionerKey]{
		short:  "List provisioner keys (never their secrets)",
		what:   "provisioner keys",
		fetch:  (*codersdk.Client).ProvisionerKeys,
		header: []string{"name", "tags", "created at", "id"},
		row: func(k codersdk.ProvisionerKey) []string {
			return []string{k.Name, formatProvisionerTags(k.Tags), formatTime(k.CreatedAt), k.ID.String()}
		},
	})
}
