package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) templatesEditCmd() *cobra.Command {
	var (
		org                            orgFlag
		name, displayName, desc, icon  string
		requireActive, allowUserCancel bool
		defaultTTL                     time.Duration
	)
	var cmd *cobra.Command
	cmd = &cobra.Command{
		Use:   "edit NAME",
		Short: "Change a template's settings: name, display name, description, icon, policies",
		Long: `Change only the settings given as flags.

--require-active-version: members' workspaces start on the active version
(a start moves them to it; pinning an older version is refused).
--allow-user-cancel-workspace-jobs=false: only template admins may cancel
builds of this template's workspaces.
--default-ttl 8h: new workspaces stop by themselves 8 hours after each
start (activity pushes it back); 0 turns autostop off for new workspaces.
Existing workspaces keep theirs ('coder schedule stop' changes one).`,
		Example: "  coder templates edit docker --display-name 'Docker box' --require-active-version",
		Args:    cobra.ExactArgs(1),
		RunE: r.withTemplate(nil, &org, func(ctx context.Context, client *codersdk.Client, tmpl codersdk.Template) error {
			var req codersdk.UpdateTemplateMeta
			flags := cmd.Flags()
			set := func(flag string, s *string, dst **string) {
				if flags.Changed(flag) {
					*dst = s
				}
			}
			set("name", &name, &req.Name)
			set("display-name", &displayName, &req.DisplayName)
			set("description", &desc, &req.Description)
			set("icon", &icon, &req.Icon)
			if flags.Changed("require-active-version") {
				req.RequireActiveVersion = &requireActive
			}
			if flags.Changed("allow-user-cancel-workspace-jobs") {
				req.AllowUserCancelWorkspaceJobs = &allowUserCancel
			}
			if flags.Changed("default-ttl") {
				ms := defaultTTL.Milliseconds()
				req.DefaultTTLMillis = &ms
			}
			if req == (codersdk.UpdateTemplateMeta{}) {
				return errors.New("nothing to change: give at least one setting (see --help)")
			}
			t, err := client.UpdateTemplateMeta(ctx, tmpl.ID, req)
			if err != nil {
				return wrapAPI("edit template "+tmpl.Name, err)
			}
			fmt.Fprintf(r.Stdout, "Template %s updated (display name %q, require active version %t, users may cancel builds %t). Default autostop: %s.\n",
				t.Name, t.DisplayName, t.RequireActiveVersion, t.AllowUserCancelWorkspaceJobs, formatTTL(&t.DefaultTTLMillis))
			return nil
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&name, "name", "", "New name.")
	fs.StringVar(&displayName, "display-name", "", "Name shown in the dashboard.")
	fs.StringVar(&desc, "description", "", "One-line description.")
	fs.StringVar(&icon, "icon", "", "Icon URL or path.")
	fs.BoolVar(&requireActive, "require-active-version", false, "Members' workspaces start on the active version only.")
	fs.BoolVar(&allowUserCancel, "allow-user-cancel-workspace-jobs", true, "Members may cancel their workspaces' builds.")
	fs.DurationVar(&defaultTTL, "default-ttl", 0, "Autostop duration new workspaces get (e.g. 8h; at least 1m, at most 720h; 0 turns it off).")
	org.attach(fs, r.Getenv)
	return cmd
}
