package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opencoder/coder/codersdk"
)

// orgFlag is --org, the one way a command names an organization: a name or
// an ID, from $CODER_ORGANIZATION when the flag is absent, and the caller's
// default organization when both are empty.
type orgFlag struct{ value string }

func (o *orgFlag) attach(fs *pflag.FlagSet, getenv func(string) string) {
	flagString(fs, getenv, &o.value, "org", "CODER_ORGANIZATION", "", "Organization (name or ID); default: your default organization.")
}

// resolve returns the organization --org names, or the caller's default
// (the first one listed when none is marked default).
func (o orgFlag) resolve(ctx context.Context, client *codersdk.Client) (codersdk.Organization, error) {
	if o.value != "" {
		org, err := client.Organization(ctx, o.value)
		if codersdk.IsStatus(err, http.StatusNotFound) {
			return org, fmt.Errorf("organization %q not found (or you are not a member)", o.value)
		}
		if err != nil {
			return org, wrapAPI("get organization "+o.value, err)
		}
		return org, nil
	}
	orgs, err := client.OrganizationsByUser(ctx, codersdk.Me)
	if err != nil {
		return codersdk.Organization{}, wrapAPI("list your organizations", err)
	}
	if len(orgs) == 0 {
		return codersdk.Organization{}, errors.New("you belong to no organization: ask an owner to add you to one")
	}
	for _, org := range orgs {
		if org.IsDefault {
			return org, nil
		}
	}
	return orgs[0], nil
}

// withOrg is withClient for a command with --org: run gets the resolved
// organization.
func (r *Root) withOrg(out *outputFormat, org *orgFlag, run func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error) func(*cobra.Command, []string) error {
	return r.withClient(out, func(ctx context.Context, client *codersdk.Client, args []string) error {
		o, err := org.resolve(ctx, client)
		if err != nil {
			return err
		}
		return run(ctx, client, o, args)
	})
}

// orgList describes a `list` command over the objects of the --org
// organization, shown as a table or (-o json) as the API returned them.
type orgList[T any] struct {
	short  string
	what   string                                                                         // "templates", for errors
	fetch  func(client *codersdk.Client, ctx context.Context, org uuid.UUID) ([]T, error) // a method expression
	header []string
	row    func(T) []string
	// empty, when set, is said on stderr instead of an empty table.
	empty string
}

func orgListCmd[T any](r *Root, l orgList[T]) *cobra.Command {
	var (
		out outputFormat
		org orgFlag
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   l.short,
		Args:    cobra.NoArgs,
		RunE: r.withOrg(&out, &org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, _ []string) error {
			list, err := l.fetch(client, ctx, o.ID)
			if err != nil {
				return wrapAPI("list "+l.what, err)
			}
			if out.format == "table" && len(list) == 0 && l.empty != "" {
				fmt.Fprintln(r.Stderr, l.empty)
				return nil
			}
			rows := make([][]string, 0, len(list))
			for _, v := range list {
				rows = append(rows, l.row(v))
			}
			return out.write(r.Stdout, list, l.header, rows)
		}),
	}
	org.attach(cmd.Flags(), r.Getenv)
	out.attach(cmd)
	return cmd
}
