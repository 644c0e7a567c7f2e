package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// versionByName finds a template's version by name, archived ones
// included, and names the choices when there is none.
func versionByName(ctx context.Context, client *codersdk.Client, tmpl codersdk.Template, name string) (codersdk.TemplateVersion, error) {
	list, err := client.TemplateVersionsIncludingArchived(ctx, tmpl.ID)
	if err != nil {
		return codersdk.TemplateVersion{}, wrapAPI("list versions of "+tmpl.Name, err)
	}
	names := make([]string, 0, len(list))
	for _, v := range list {
		if v.Name == name {
			return v, nil
		}
		names = append(names, v.Name)
	}
	return codersdk.TemplateVersion{}, fmt.Errorf("template %s has no version %q (its versions: %s)", tmpl.Name, name, strings.Join(names, ", "))
}

func (r *Root) templateVersionsPromoteCmd() *cobra.Command {
	var org orgFlag
	cmd := &cobra.Command{
		Use:   "promote TEMPLATE VERSION",
		Short: "Make a version the active one: new workspaces and updates use it",
		Args:  cobra.ExactArgs(2),
		RunE: r.withOrg(nil, &org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error {
			tmpl, err := templateByName(ctx, client, o.ID, args[0])
			if err != nil {
				return err
			}
			v, err := versionByName(ctx, client, tmpl, args[1])
			if err != nil {
				return err
			}
			if v.ID == tmpl.ActiveVersionID {
				fmt.Fprintf(r.Stdout, "Version %s is already the active version of %s.\n", v.Name, tmpl.Name)
				return nil
			}
			if err := client.UpdateActiveTemplateVersion(ctx, tmpl.ID, codersdk.UpdateActiveTemplateVersion{ID: v.ID}); err != nil {
				return wrapAPI("promote "+v.Name, err)
			}
			fmt.Fprintf(r.Stdout, "Version %s is now the active version of %s. Workspaces on older versions show as outdated; 'coder update WORKSPACE' moves one.\n", v.Name, tmpl.Name)
			return nil
		}),
	}
	org.attach(cmd.Flags(), r.Getenv)
	return cmd
}

// templateVersionsArchiveCmd archives (or with unarchive, restores) one
// or more versions: archived versions are hidden from lists and cannot be
// promoted or built until restored.
func (r *Root) templateVersionsArchiveCmd(unarchive bool) *cobra.Command {
	var org orgFlag
	use, short, verb := "archive", "Archive versions: hide them from lists and refuse them for new builds", "archived"
	if unarchive {
		use, short, verb = "unarchive", "Restore archived versions", "restored"
	}
	cmd := &cobra.Command{
		Use:   use + " TEMPLATE VERSION...",
		Short: short,
		Args:  cobra.MinimumNArgs(2),
		RunE: r.withOrg(nil, &org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error {
			tmpl, err := templateByName(ctx, client, o.ID, args[0])
			if err != nil {
				return err
			}
			for _, name := range args[1:] {
				v, err := versionByName(ctx, client, tmpl, name)
				if err != nil {
					return err
				}
				if unarchive {
					err = client.UnarchiveTemplateVersion(ctx, v.ID)
				} else {
					err = client.ArchiveTemplateVersion(ctx, v.ID)
				}
				if err != nil {
					return wrapAPI(use+" "+v.Name, err)
				}
				fmt.Fprintf(r.Stdout, "Version %s of %s %s.\n", v.Name, tmpl.Name, verb)
			}
			return nil
		}),
	}
	org.attach(cmd.Flags(), r.Getenv)
	return cmd
}
