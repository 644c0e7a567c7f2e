package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) templatesPullCmd() *cobra.Command {
	var (
		org     orgFlag
		version string
		asTar   bool
	)
	cmd := &cobra.Command{
		Use:   "pull NAME [DIR]",
		Short: "Download a template's source (the active version, or --version) into DIR (default: ./NAME)",
		Long: `Download the files a template version was pushed with. DIR must be empty or
missing: nothing is overwritten. With --tar the archive is written to stdout
instead, as 'coder templates push' uploaded it.`,
		Example: "  coder templates pull docker ./docker\n  coder templates pull docker --version v1 --tar > docker-v1.tar",
		Args:    cobra.RangeArgs(1, 2),
		RunE: r.withOrg(nil, &org, func(ctx context.Context, client *codersdk.Client, o codersdk.Organization, args []string) error {
			tmpl, err := templateByName(ctx, client, o.ID, args[0])
			if err != nil {
				return err
			}
			var v codersdk.TemplateVersion
			if version == "" {
				v, err = client.TemplateVersion(ctx, tmpl.ActiveVersionID)
				if err != nil {
					return wrapAPI("get the active version of "+tmpl.Name, err)
				}
			} else if v, err = versionByName(ctx, client, tmpl, version); err != nil {
				return err
			}
			data, _, err := client.Download(ctx, v.Job.FileID)
			if err != nil {
				return wrapAPI("download version "+v.Name, err)
			}
			if asTar {
				_, err := r.Stdout.Write(data)
				return err
			}
			dir := tmpl.Name
			if len(args) == 2 {
				dir = args[1]
			}
			n, err := extractTemplate(data, dir)
			if err != nil {
				return fmt.Errorf("pull %s: %w", tmpl.Name, err)
			}
			fmt.Fprintf(r.Stdout, "Wrote version %s of %s (%d files) to %s.\n", v.Name, tmpl.Name, n, dir)
			return nil
		}),
	}
	cmd.Flags().StringVar(&version, "version", "", "Version name (default: the active version).")
	cmd.Flags().BoolVar(&asTar, "tar", false, "Write the tar archive to stdout instead of unpacking it.")
	org.attach(cmd.Flags(), r.Getenv)
	return cmd
}

// extractTemplate unpacks a template archive into dir, which must be empty
// or missing. Only regular files and directories are written, and no entry
// may leave dir (the server refuses such archives at upload too).
func extractTemplate(data []byte, dir string) (int, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return 0, fmt.Errorf("%s is not empty: choose a new or empty directory, or use --tar", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	n := 0
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("read archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return n, fmt.Errorf("archive entry %q leaves the directory", h.Name)
		}
		dest := filepath.Join(dir, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return n, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return n, err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return n, err
			}
			_, werr := io.Copy(f, tr)
			if err := errors.Join(werr, f.Close()); err != nil {
				return n, fmt.Errorf("write %s: %w", dest, err)
			}
			n++
		}
	}
}
