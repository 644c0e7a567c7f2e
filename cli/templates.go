package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/templates"
)

func templateByName(ctx context.Context, client *codersdk.Client, org uuid.UUID, name string) (codersdk.Template, error) {
	t, err := client.TemplateByName(ctx, org, name)
	if codersdk.IsStatus(err, http.StatusNotFound) {
		return t, fmt.Errorf("template %q not found: 'coder templates list' shows the templates you can use", name)
	}
	if err != nil {
		return t, wrapAPI("get template "+name, err)
	}
	return t, nil
}

// withTemplate is withClient for a command whose first argument names a
// template of the --org organization: run gets the template.
func (r *Root) withTemplate(out *outputFormat, org *orgFlag, run func(ctx context.Context, client *codersdk.Client, tmpl codersdk.Template) error) func(*cobra.Command, []string) error {
	return r.withOrg(out, org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error {
		tmpl, err := templateByName(ctx, client, o.ID, args[0])
		if err != nil {
			return err
		}
		return run(ctx, client, tmpl)
	})
}

// chooseTemplate asks which template to use, on a terminal; elsewhere it
// fails naming the choices.
func (r *Root) chooseTemplate(ctx context.Context, client *codersdk.Client, in *prompter, org uuid.UUID) (string, error) {
	list, err := client.Templates(ctx, org)
	if err != nil {
		return "", wrapAPI("list templates", err)
	}
	if len(list) == 0 {
		return "", errors.New("there are no templates yet: a template admin adds one with 'coder templates push'")
	}
	names := make([]string, len(list))
	for i, t := range list {
		names[i] = t.Name
	}
	if !in.interactive() {
		return "", fmt.Errorf("--template is required; the templates are: %s", strings.Join(names, ", "))
	}
	fmt.Fprintln(r.Stderr, "Templates:")
	for i, t := range list {
		fmt.Fprintf(r.Stderr, "  %d) %s  %s\n", i+1, t.Name, firstLine(t.Description))
	}
	for {
		a, err := in.line("Template (number or name): ")
		if err != nil {
			return "", err
		}
		if n, err := strconv.Atoi(a); err == nil && n >= 1 && n <= len(list) {
			return list[n-1].Name, nil
		}
		for _, name := range names {
			if a == name {
				return name, nil
			}
		}
		fmt.Fprintf(r.Stderr, "No template %q.\n", a)
	}
}

func (r *Root) templatesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "templates",
		Aliases: []string{"template"},
		Short:   "Manage templates: the Terraform projects workspaces are made from",
	}
	versions := &cobra.Command{Use: "versions", Short: "Manage a template's versions"}
	versions.AddCommand(r.templateVersionsListCmd(), r.templateVersionsPromoteCmd(), r.templateVersionsArchiveCmd(false), r.templateVersionsArchiveCmd(true))
	cmd.AddCommand(r.templatesInitCmd(), r.templatesPushCmd(), r.templatesPullCmd(), r.templatesEditCmd(), r.templatesListCmd(), versions, r.templatesVariablesCmd(), r.templatesDeleteCmd())
	return cmd
}

func (r *Root) templatesInitCmd() *cobra.Command {
	var id string
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Write one of the example templates shipped with coder into DIR (default: ./ID)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			list := templates.List()
			if id == "" {
				in := newPrompter(r.Stdin, r.Stderr)
				if !in.interactive() {
					rows := make([][]string, 0, len(list))
					for _, t := range list {
						rows = append(rows, []string{t.ID, t.Name, firstLine(t.Description)})
					}
					if err := writeTable(r.Stdout, []string{"id", "name", "description"}, rows); err != nil {
						return err
					}
					return errors.New("choose an example with --id ID")
				}
				fmt.Fprintln(r.Stderr, "Example templates:")
				for i, t := range list {
					fmt.Fprintf(r.Stderr, "  %d) %-20s %s\n", i+1, t.ID, firstLine(t.Description))
				}
				for id == "" {
					a, err := in.line("Example (number or id): ")
					if err != nil {
						return err
					}
					for i, t := range list {
						if a == t.ID || a == strconv.Itoa(i+1) {
							id = t.ID
						}
					}
				}
			}
			known := false
			for _, t := range list {
				known = known || t.ID == id
			}
			if !known {
				ids := make([]string, 0, len(list))
				for _, t := range list {
					ids = append(ids, t.ID)
				}
				return fmt.Errorf("no example template %q: the examples are %s", id, strings.Join(ids, ", "))
			}
			dir := id
			if len(args) == 1 {
				dir = args[0]
			}
			if err := templates.Write(id, dir); errors.Is(err, templates.ErrExists) {
				return fmt.Errorf("write example %s: %w (nothing was written: choose an empty directory)", id, err)
			} else if err != nil {
				return fmt.Errorf("write example %s: %w", id, err)
			}
			fmt.Fprintf(r.Stdout, "Wrote the %s example to %s.\nReview it, then push it: coder templates push %s -d %s\n", id, dir, id, dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&id, "id", "", "ID of the example to write (listed when missing).")
	return cmd
}

func (r *Root) templateVersionsListCmd() *cobra.Command {
	var (
		out      outputFormat
		org      orgFlag
		archived bool
	)
	cmd := &cobra.Command{
		Use:     "list TEMPLATE",
		Aliases: []string{"ls"},
		Short:   "List a template's versions, newest first",
		Args:    cobra.ExactArgs(1),
		RunE: r.withTemplate(&out, &org, func(ctx context.Context, client *codersdk.Client, tmpl codersdk.Template) error {
			list, err := client.TemplateVersionsByTemplate(ctx, tmpl.ID)
			if archived {
				list, err = client.TemplateVersionsIncludingArchived(ctx, tmpl.ID)
			}
			if err != nil {
				return wrapAPI("list versions", err)
			}
			rows := make([][]string, 0, len(list))
			for _, v := range list {
				active := ""
				if v.ID == tmpl.ActiveVersionID {
					active = "active"
				} else if v.Archived {
					active = "archived"
				}
				rows = append(rows, []string{v.Name, relativeTime(v.CreatedAt), v.CreatedBy.Username, string(v.Job.Status), active, firstLine(v.Message)})
			}
			return out.write(r.Stdout, list, []string{"name", "created", "created by", "import", "state", "message"}, rows)
		}),
	}
	cmd.Flags().BoolVar(&archived, "include-archived", false, "List archived versions too.")
	org.attach(cmd.Flags(), r.Getenv)
	out.attach(cmd)
	return cmd
}

func (r *Root) templatesDeleteCmd() *cobra.Command {
	var (
		yes bool
		org orgFlag
	)
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a template (refused while workspaces use it)",
		Args:    cobra.ExactArgs(1),
		RunE: r.withTemplate(nil, &org, func(ctx context.Context, client *codersdk.Client, tmpl codersdk.Template) error {
			if err := r.confirm(newPrompter(r.Stdin, r.Stderr), yes, true, fmt.Sprintf("Delete template %s and all its versions?", tmpl.Name)); err != nil {
				return err
			}
			err := client.DeleteTemplate(ctx, tmpl.ID)
			if codersdk.IsStatus(err, http.StatusConflict) {
				// Name the workspaces in the way, when we may see them.
				if res, lerr := client.Workspaces(ctx, codersdk.WorkspaceFilter{Template: tmpl.Name}); lerr == nil && len(res.Workspaces) > 0 {
					names := make([]string, 0, len(res.Workspaces))
					for _, ws := range res.Workspaces {
						names = append(names, workspaceLabel(ws))
					}
					return fmt.Errorf("%w\nWorkspaces using it: %s", wrapAPI("delete template "+tmpl.Name, err), strings.Join(names, ", "))
				}
			}
			if err != nil {
				return wrapAPI("delete template "+tmpl.Name, err)
			}
			fmt.Fprintf(r.Stdout, "Template %s deleted.\n", tmpl.Name)
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	org.attach(cmd.Flags(), r.Getenv)
	return cmd
}

func (r *Root) templatesListCmd() *cobra.Command {
	return orgListCmd(r, orgList[codersdk.Template]{
		short:  "List templates",
		what:   "templates",
		fetch:  (*codersdk.Client).Templates,
		header: []string{"name", "organization", "workspaces", "created by", "updated", "description"},
		row: func(t codersdk.Template) []string {
			return []string{t.Name, t.OrganizationName, strconv.Itoa(t.ActiveUserCount), t.CreatedByName, relativeTime(t.UpdatedAt), firstLine(t.Description)}
		},
		empty: "No templates yet. Start from an example: coder templates init, then coder templates push.",
	})
}
