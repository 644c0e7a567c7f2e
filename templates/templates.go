// Package templates holds the example Terraform templates shipped inside the
// coder binary (`coder templates init`, starter templates in coderd): a
// Docker container, a Kubernetes deployment, and AWS and Google Cloud VMs.
//
// Each template is a directory here with a main.tf and a README.md whose
// front matter (display_name, description) names it. Only what go:embed
// accepts by default is shipped, so a local `terraform init` in a template
// directory (.terraform/, .terraform.lock.hcl) never leaks into the binary.
// Provider version constraints must accept the versions the offline mirror
// holds (tools/toolchain/versions.env); templates_test.go runs terraform
// init and validate against that mirror. See README.md.
package templates

import (
	"bufio"
	"bytes"
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// files holds every template; hidden files are left out on purpose.
//
//go:embed docker kubernetes aws-linux gcp-linux
var files embed.FS

// ErrUnknownTemplate is returned (wrapped) for an id that names no template.
var ErrUnknownTemplate = errors.New("unknown template")

// ErrExists is returned (wrapped) by Write when a file it would write already
// exists with other content.
var ErrExists = errors.New("file exists with different content")

// Template describes one shipped template.
type Template struct {
	// ID is the template's directory name, the argument of Write and FS.
	ID string
	// Name is a human-readable name, from display_name in its README.md.
	Name string
	// Description is one sentence, from description in its README.md.
	Description string
}

// List returns the shipped templates, sorted by ID.
func List() []Template {
	entries, _ := fs.ReadDir(files, ".") // the embedded root always exists
	var list []Template
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		readme, err := fs.ReadFile(files, path.Join(e.Name(), "README.md"))
		if err != nil {
			continue
		}
		meta := frontMatter(readme)
		list = append(list, Template{
			ID:          e.Name(),
			Name:        cmp.Or(meta["display_name"], e.Name()),
			Description: meta["description"],
		})
	}
	slices.SortFunc(list, func(a, b Template) int { return strings.Compare(a.ID, b.ID) })
	return list
}

// FS returns the files of the template id, rooted at its directory.
func FS(id string) (fs.FS, error) {
	if !known(id) {
		return nil, unknown(id)
	}
	sub, err := fs.Sub(files, id)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", id, err)
	}
	return sub, nil
}

// Write copies the template id into dir, creating dir if needed. It never
// overwrites: a file that already exists must be identical, otherwise Write
// fails with ErrExists before writing anything.
func Write(id, dir string) error {
	tfs, err := FS(id)
	if err != nil {
		return err
	}
	type file struct {
		rel  string
		data []byte
	}
	var todo []file
	err = fs.WalkDir(tfs, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(tfs, p)
		if err != nil {
			return err
		}
		dest := filepath.Join(dir, filepath.FromSlash(p))
		have, err := os.ReadFile(dest)
		switch {
		case err == nil && bytes.Equal(have, data):
			return nil // already there
		case err == nil:
			return fmt.Errorf("write template %s: %s: %w", id, dest, ErrExists)
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("write template %s: %w", id, err)
		}
		todo = append(todo, file{rel: p, data: data})
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range todo {
		dest := filepath.Join(dir, filepath.FromSlash(f.rel))
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return fmt.Errorf("write template %s: %w", id, err)
		}
		// O_EXCL: a file that appeared since the check is not overwritten.
		out, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("write template %s: %w", id, err)
		}
		_, werr := out.Write(f.data)
		if err := errors.Join(werr, out.Close()); err != nil {
			return fmt.Errorf("write template %s: %w", id, err)
		}
	}
	return nil
}

// Archive returns the template id as an uncompressed tar archive, the form
// `coder templates push` uploads (see WriteArchive).
func Archive(id string) ([]byte, error) {
	tfs, err := FS(id)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, tfs); err != nil {
		return nil, fmt.Errorf("archive template %s: %w", id, err)
	}
	return buf.Bytes(), nil
}

// Markdown returns the template's README.md without its front matter: what
// a dashboard shows about a starter template before it is created.
func Markdown(id string) (string, error) {
	tfs, err := FS(id)
	if err != nil {
		return "", err
	}
	readme, err := fs.ReadFile(tfs, "README.md")
	if err != nil {
		return "", fmt.Errorf("template %s: %w", id, err)
	}
	return stripFrontMatter(string(readme)), nil
}

// stripFrontMatter removes a leading "---" ... "---" block.
func stripFrontMatter(readme string) string {
	rest, ok := strings.CutPrefix(readme, "---\n")
	if !ok {
		return readme
	}
	if i := strings.Index(rest, "\n---"); i >= 0 {
		body := rest[i+len("\n---"):]
		if j := strings.IndexByte(body, '\n'); j >= 0 {
			return strings.TrimLeft(body[j+1:], "\n")
		}
		return ""
	}
	return readme
}

func known(id string) bool {
	return slices.ContainsFunc(List(), func(t Template) bool { return t.ID == id })
}

func unknown(id string) error {
	var ids []string
	for _, t := range List() {
		ids = append(ids, t.ID)
	}
	return fmt.Errorf("%w %q (valid: %s)", ErrUnknownTemplate, id, strings.Join(ids, ", "))
}

// frontMatter parses the "key: value" lines between the leading "---" lines
// of a README.
func frontMatter(readme []byte) map[string]string {
	meta := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(readme))
	if !sc.Scan() || strings.TrimSpace(sc.Text()) != "---" {
		return meta
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "---" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		meta[strings.TrimSpace(k)] = v
	}
	return meta
}
