package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/templates"
)

// organizationID resolves --org (a name or ID), or the caller's default
// organization when it is empty.
func organizationID(ctx context.Context, client *codersdk.Client, flag string) (uuid.UUID, error) {
	if flag != "" {
		if id, err := uuid.Parse(flag); err == nil {
			return id, nil
		}
		org, err := client.Organization(ctx, flag)
		if codersdk.IsStatus(err, http.StatusNotFound) {
			return uuid.Nil, fmt.Errorf("organization %q not found (or you are not a member)", flag)
		}
		if err != nil {
			return uuid.Nil, wrapAPI("get organization "+flag, err)
		}
		return org.ID, nil
	}
	orgs, err := client.OrganizationsByUser(ctx, codersdk.Me)
	if err != nil {
		return uuid.Nil, wrapAPI("list your organizations", err)
	}
	if len(orgs) == 0 {
		return uuid.Nil, errors.New("you belong to no organization: ask an owner to add you to one")
	}
	for _, o := range orgs {
		if o.IsDefault {
			return o.ID, nil
		}
	}
	return orgs[0].ID, nil
}

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
	versions.AddCommand(r.templateVersionsListCmd())
	cmd.AddCommand(r.templatesInitCmd(), r.templatesPushCmd(), r.templatesListCmd(), versions, r.templatesDeleteCmd())
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

// pushOptions are `coder templates push`'s flags.
type pushOptions struct {
	dir, message, versionName, org string
	tags                           []string
	yes                            bool
	maxSizeMiB                     int
}

func (r *Root) templatesPushCmd() *cobra.Command {
	var o pushOptions
	cmd := &cobra.Command{
		Use:   "push [NAME]",
		Short: "Upload a template directory as a new version and make it active",
		Long: `Pack DIR (without .terraform/, .git/ and Terraform state files), upload it,
and import it as a new version of template NAME (default: DIR's name),
streaming the import's logs. When the import succeeds the version becomes the
template's active one, or the template is created on the first push. When it
fails, Terraform's error is printed and nothing changes.`,
		Example: "  coder templates push docker -d ./docker -m 'Bigger disk'",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			return r.pushTemplate(cmd.Context(), name, o)
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.dir, "directory", "d", ".", "Template directory to push.")
	fs.StringVarP(&o.message, "message", "m", "", "What changed in this version.")
	fs.StringVar(&o.versionName, "name", "", "Version name (default: a generated one).")
	fs.StringArrayVar(&o.tags, "tag", nil, "Provisioner tag KEY=VALUE the version's jobs require (repeatable).")
	fs.BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation.")
	flagString(fs, r.Getenv, &o.org, "org", "CODER_ORGANIZATION", "", "Organization (name or ID); default: your default organization.")
	fs.IntVar(&o.maxSizeMiB, "max-size-mib", 10, "Refuse to upload an archive larger than this (the server's --max-file-size-mib, 10 by default).")
	return cmd
}

func (r *Root) pushTemplate(ctx context.Context, name string, o pushOptions) error {
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return fmt.Errorf("resolve directory: %w", err)
	}
	if name == "" {
		name = filepath.Base(abs)
	}
	tags, err := parseKeyValues("tag", o.tags)
	if err != nil {
		return err
	}
	archive, stats, err := tarTemplate(abs, int64(o.maxSizeMiB)<<20)
	if err != nil {
		return err
	}
	client, err := r.client()
	if err != nil {
		return err
	}
	orgID, err := organizationID(ctx, client, o.org)
	if err != nil {
		return err
	}
	tmpl, err := client.TemplateByName(ctx, orgID, name)
	exists := err == nil
	if err != nil && !codersdk.IsStatus(err, http.StatusNotFound) {
		return wrapAPI("get template "+name, err)
	}
	action := "a new version of template " + name
	if !exists {
		action = "a new template, " + name
	}
	in := newPrompter(r.Stdin, r.Stderr)
	if err := r.confirm(in, o.yes, false, fmt.Sprintf("Upload %s (%d files, %s) as %s?", abs, stats.files, formatSize(int64(len(archive))), action)); err != nil {
		return err
	}
	up, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(archive))
	if err != nil {
		return wrapAPI("upload "+abs, err)
	}
	req := codersdk.CreateTemplateVersionRequest{Name: o.versionName, Message: o.message, StorageMethod: "file", FileID: up.ID, Provisioner: "terraform", ProvisionerTags: tags}
	if exists {
		req.TemplateID = tmpl.ID
	}
	version, err := client.CreateTemplateVersion(ctx, orgID, req)
	if err != nil {
		return wrapAPI("create template version", err)
	}
	fmt.Fprintf(r.Stderr, "Importing version %s of %s.\n", version.Name, name)
	job, err := r.followJob(ctx, versionSource(client, version))
	if errors.Is(err, errInterrupted) {
		// Nobody would promote the version, so its import is wasted work.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := client.CancelTemplateVersion(cctx, version.ID); cerr != nil && !codersdk.IsStatus(cerr, http.StatusBadRequest) {
			return r.interrupted("Could not cancel the import of version %s: %v", version.Name, cerr)
		}
		return r.interrupted("Canceled the import of version %s; template %s was not changed.", version.Name, name)
	}
	if err != nil {
		return fmt.Errorf("follow the import: %w", err)
	}
	switch job.Status {
	case codersdk.ProvisionerJobSucceeded:
	case codersdk.ProvisionerJobCanceled:
		return fmt.Errorf("the import of version %s was canceled; template %s was not changed", version.Name, name)
	default:
		msg := strings.TrimSpace(job.Error)
		if msg == "" {
			msg = "no error message (job status " + string(job.Status) + ")"
		}
		return fmt.Errorf("the import of version %s failed; template %s was not changed:\n%s", version.Name, name, msg)
	}
	if !exists {
		if _, err := client.CreateTemplate(ctx, orgID, codersdk.CreateTemplateRequest{Name: name, VersionID: version.ID}); err != nil {
			return wrapAPI("create template "+name, err)
		}
		fmt.Fprintf(r.Stdout, "\nTemplate %s created with version %s. Create a workspace: coder create NAME --template %s\n", name, version.Name, name)
		return nil
	}
	if err := client.UpdateActiveTemplateVersion(ctx, tmpl.ID, codersdk.UpdateActiveTemplateVersion{ID: version.ID}); err != nil {
		return wrapAPI("make version "+version.Name+" active", err)
	}
	fmt.Fprintf(r.Stdout, "\nTemplate %s updated: version %s is now active.\n", name, version.Name)
	return nil
}

// tarStats describes a packed template.
type tarStats struct {
	files int
}

// templateFile is one regular file of a template upload.
type templateFile struct {
	rel  string
	size int64
}

// tarTemplate packs dir into a tar archive of at most limit bytes, checked
// before anything is read: what goes in, and how, is templates.UploadFS
// (no Terraform state or working data, no timestamps or owners, so a
// re-push reuses the stored file).
func tarTemplate(dir string, limit int64) ([]byte, tarStats, error) {
	var (
		files []templateFile
		stats tarStats
		total int64
		hasTF bool
	)
	fsys := os.DirFS(dir)
	err := fs.WalkDir(templates.UploadFS(fsys), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		stats.files++
		total += info.Size()
		hasTF = hasTF || (!strings.Contains(p, "/") && (strings.HasSuffix(p, ".tf") || strings.HasSuffix(p, ".tf.json")))
		files = append(files, templateFile{rel: p, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, stats, fmt.Errorf("read %s: %w", dir, err)
	}
	if !hasTF {
		return nil, stats, fmt.Errorf("%s has no .tf files: push a directory holding a Terraform template (-d DIR)", dir)
	}
	if total > limit {
		return nil, stats, fmt.Errorf("%s is too large to upload: the limit is %s. The largest files are:\n%s\nRemove what Terraform does not need, or raise the limit with --max-size-mib if the server accepts more",
			dir, formatSize(limit), largestFiles(files, 5))
	}
	var buf bytes.Buffer
	if err := templates.WriteArchive(&buf, fsys); err != nil {
		return nil, stats, fmt.Errorf("pack %s: %w", dir, err)
	}
	if int64(buf.Len()) > limit {
		return nil, stats, fmt.Errorf("%s packs to %s, over the %s limit (--max-size-mib)", dir, formatSize(int64(buf.Len())), formatSize(limit))
	}
	return buf.Bytes(), stats, nil
}

// largestFiles lists the n biggest files, for a too-large error.
func largestFiles(files []templateFile, n int) string {
	files = slices.Clone(files)
	sort.Slice(files, func(i, j int) bool { return files[i].size > files[j].size })
	lines := make([]string, 0, n)
	for _, f := range files[:min(n, len(files))] {
		lines = append(lines, fmt.Sprintf("  %8s  %s", formatSize(f.size), f.rel))
	}
	return strings.Join(lines, "\n")
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

func (r *Root) templatesListCmd() *cobra.Command {
	var (
		out outputFormat
		org string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List templates",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			client, err := r.client()
			if err != nil {
				return err
			}
			orgID, err := organizationID(ctx, client, org)
			if err != nil {
				return err
			}
			list, err := client.Templates(ctx, orgID)
			if err != nil {
				return wrapAPI("list templates", err)
			}
			if out.format == "table" && len(list) == 0 {
				fmt.Fprintln(r.Stderr, "No templates yet. Start from an example: coder templates init, then coder templates push.")
				return nil
			}
			rows := make([][]string, 0, len(list))
			for _, t := range list {
				rows = append(rows, []string{t.Name, t.OrganizationName, strconv.Itoa(t.ActiveUserCount), t.CreatedByName, relativeTime(t.UpdatedAt), firstLine(t.Description)})
			}
			return out.write(r.Stdout, list, []string{"name", "organization", "workspaces", "created by", "updated", "description"}, rows)
		},
	}
	flagString(cmd.Flags(), r.Getenv, &org, "org", "CODER_ORGANIZATION", "", "Organization (name or ID); default: your default organization.")
	out.attach(cmd)
	return cmd
}

func (r *Root) templateVersionsListCmd() *cobra.Command {
	var (
		out outputFormat
		org string
	)
	cmd := &cobra.Command{
		Use:     "list TEMPLATE",
		Aliases: []string{"ls"},
		Short:   "List a template's versions, newest first",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			ctx := cmd.Context()
			client, err := r.client()
			if err != nil {
				return err
			}
			orgID, err := organizationID(ctx, client, org)
			if err != nil {
				return err
			}
			tmpl, err := templateByName(ctx, client, orgID, args[0])
			if err != nil {
				return err
			}
			list, err := client.TemplateVersionsByTemplate(ctx, tmpl.ID)
			if err != nil {
				return wrapAPI("list versions", err)
			}
			rows := make([][]string, 0, len(list))
			for _, v := range list {
				active := ""
				if v.ID == tmpl.ActiveVersionID {
					active = "active"
				}
				rows = append(rows, []string{v.Name, relativeTime(v.CreatedAt), v.CreatedBy.Username, string(v.Job.Status), active, firstLine(v.Message)})
			}
			return out.write(r.Stdout, list, []string{"name", "created", "created by", "import", "active", "message"}, rows)
		},
	}
	flagString(cmd.Flags(), r.Getenv, &org, "org", "CODER_ORGANIZATION", "", "Organization (name or ID); default: your default organization.")
	out.attach(cmd)
	return cmd
}

func (r *Root) templatesDeleteCmd() *cobra.Command {
	var (
		yes bool
		org string
	)
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete a template (refused while workspaces use it)",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := r.client()
			if err != nil {
				return err
			}
			orgID, err := organizationID(ctx, client, org)
			if err != nil {
				return err
			}
			tmpl, err := templateByName(ctx, client, orgID, args[0])
			if err != nil {
				return err
			}
			if err := r.confirm(newPrompter(r.Stdin, r.Stderr), yes, true, fmt.Sprintf("Delete template %s and all its versions?", tmpl.Name)); err != nil {
				return err
			}
			err = client.DeleteTemplate(ctx, tmpl.ID)
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
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation.")
	flagString(cmd.Flags(), r.Getenv, &org, "org", "CODER_ORGANIZATION", "", "Organization (name or ID); default: your default organization.")
	return cmd
}
