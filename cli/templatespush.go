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
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/templates"
)

// This file is `coder templates push`: packing a template directory
// (templates.WriteArchive), uploading it, importing it as a new version and
// promoting that version once the import succeeds.

// pushOptions are `coder templates push`'s flags.
type pushOptions struct {
	dir, message, versionName string
	org                       orgFlag
	tags                      []string
	yes                       bool
	maxSizeMiB                int
	vars                      variableFlags
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
fails, Terraform's error is printed and nothing changes.

The template's Terraform variables are set with --variable NAME=VALUE and
--variables-file; a new version of an existing template keeps the values of
its active version for the variables not given.`,
		Example: "  coder templates push docker -d ./docker -m 'Bigger disk'\n  coder templates push k8s -d templates/kubernetes --variable use_kubeconfig=true",
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
	o.org.attach(fs, r.Getenv)
	o.vars.attach(fs, r.Getenv)
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
	vars, err := o.vars.collect()
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
	org, err := o.org.resolve(ctx, client)
	if err != nil {
		return err
	}
	orgID := org.ID
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
	if err := r.confirm(in, o.yes, false, fmt.Sprintf("Upload %s (%d files, %s) as %s?", abs, stats.files, formatBytes(int64(len(archive))), action)); err != nil {
		return err
	}
	up, err := client.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(archive))
	if err != nil {
		return wrapAPI("upload "+abs, err)
	}
	req := codersdk.CreateTemplateVersionRequest{Name: o.versionName, Message: o.message, StorageMethod: "file", FileID: up.ID, Provisioner: "terraform", ProvisionerTags: tags, UserVariableValues: vars}
	if exists {
		req.TemplateID = tmpl.ID
	}
	version, job, err := r.importVersion(ctx, client, orgID, req, name)
	if err != nil {
		return err
	}
	// On a terminal, required variables without a value are asked for and
	// the same upload imported again. Not with --yes (a script's run), nor
	// with --name on an existing template: the failed version holds it.
	if job.Status == codersdk.ProvisionerJobFailed && job.ErrorCode == codersdk.JobErrorCodeRequiredTemplateVariables &&
		!o.yes && in.interactive() && !(exists && o.versionName != "") {
		var active *codersdk.Template
		if exists {
			active = &tmpl
		}
		asked, err := r.askMissingVariables(ctx, client, in, abs, active, vars)
		if err != nil {
			return err
		}
		if len(asked) > 0 {
			req.UserVariableValues = mergeVariables(vars, asked)
			fmt.Fprintf(r.Stderr, "\nImporting %s again with those values.\n", name)
			if version, job, err = r.importVersion(ctx, client, orgID, req, name); err != nil {
				return err
			}
		}
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

// importVersion creates a version from req and follows its import to its
// end; an interrupt cancels the import (nobody would promote the version).
func (r *Root) importVersion(ctx context.Context, client *codersdk.Client, orgID uuid.UUID, req codersdk.CreateTemplateVersionRequest, name string) (codersdk.TemplateVersion, codersdk.ProvisionerJob, error) {
	version, err := client.CreateTemplateVersion(ctx, orgID, req)
	if err != nil {
		return version, codersdk.ProvisionerJob{}, wrapAPI("create template version", err)
	}
	fmt.Fprintf(r.Stderr, "Importing version %s of %s.\n", version.Name, name)
	job, err := r.followJob(ctx, versionSource(client, version))
	if errors.Is(err, errInterrupted) {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if cerr := client.CancelTemplateVersion(cctx, version.ID); cerr != nil && !codersdk.IsStatus(cerr, http.StatusBadRequest) {
			return version, job, r.interrupted("Could not cancel the import of version %s: %v", version.Name, cerr)
		}
		return version, job, r.interrupted("Canceled the import of version %s; template %s was not changed.", version.Name, name)
	}
	if err != nil {
		return version, job, wrapAPI("follow the import", err)
	}
	return version, job, nil
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
			dir, formatBytes(limit), largestFiles(files, 5))
	}
	var buf bytes.Buffer
	if err := templates.WriteArchive(&buf, fsys); err != nil {
		return nil, stats, fmt.Errorf("pack %s: %w", dir, err)
	}
	if int64(buf.Len()) > limit {
		return nil, stats, fmt.Errorf("%s packs to %s, over the %s limit (--max-size-mib)", dir, formatBytes(int64(buf.Len())), formatBytes(limit))
	}
	return buf.Bytes(), stats, nil
}

// largestFiles lists the n biggest files, for a too-large error.
func largestFiles(files []templateFile, n int) string {
	files = slices.Clone(files)
	sort.Slice(files, func(i, j int) bool { return files[i].size > files[j].size })
	lines := make([]string, 0, n)
	for _, f := range files[:min(n, len(files))] {
		lines = append(lines, fmt.Sprintf("  %8s  %s", formatBytes(f.size), f.rel))
	}
	return strings.Join(lines, "\n")
}
