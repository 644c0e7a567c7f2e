package site

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/humanize"
)

// parsePages parses every page together with the shared layout: page
// "x.html" renders as the layout with x's "title" and "content" blocks.
// Files starting with "_" are partials shared by all pages.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	entries, err := fs.ReadDir(pageFS, "pages")
	if err != nil {
		return nil, fmt.Errorf("site: read pages: %w", err)
	}
	base, err := template.New("").Funcs(funcs).ParseFS(pageFS, "pages/_*.html")
	if err != nil {
		return nil, fmt.Errorf("site: parse layout: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(pageFS, path.Join("pages", name))
		if err != nil {
			return nil, fmt.Errorf("site: parse %s: %w", name, err)
		}
		pages[strings.TrimSuffix(name, ".html")] = t
	}
	return pages, nil
}

func (s *Site) funcs() template.FuncMap {
	return template.FuncMap{
		"ago":     func(t time.Time) string { return humanize.Ago(s.opts.Now(), t) },
		"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
		"took":    func(from, to time.Time) string { return humanize.Duration(to.Sub(from)) },
		"status":  statusClass,
		"stopsIn": func(b codersdk.WorkspaceBuild) string { return stopsIn(s.opts.Now(), b) },
		"query":   url.QueryEscape,
		"path":    url.PathEscape,
		"short":   func(id fmt.Stringer) string { return id.String()[:8] },
		"deref": func(p *int32) int32 {
			if p == nil {
				return 0
			}
			return *p
		},
		"contains": func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		},
	}
}

// view is what every page template receives.
type view struct {
	Title string
	User  user
	// Flash is a one-line notice shown above the content.
	Flash string
	// Error is a page-level error (a field's error goes in FieldErrors).
	Error       string
	FieldErrors map[string]string
	Data        any
}

// render writes page with data; a template error is logged and answered
// 500 before anything was written, never as half a page. "page#block"
// renders only that block of the page, for the parts a page refreshes
// without a reload.
func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	block := "layout"
	if p, b, ok := strings.Cut(page, "#"); ok {
		page, block = p, b
	}
	t, ok := s.pages[page]
	if !ok {
		s.opts.Logger.Error("site: unknown page", "page", page)
		http.Error(w, "internal error: unknown page", http.StatusInternalServerError)
		return
	}
	if v.User.Username == "" {
		v.User = currentUser(r.Context())
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, v); err != nil {
		s.opts.Logger.Error("site: render page", "page", page, "error", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

func (s *Site) renderError(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	s.render(w, r, status, "error", view{Title: title, Error: detail, Data: status})
}

// renderAPIError turns an API error into the same status and message on a
// page: a 404 from the API is a 404 page, a 403 a 403 page.
func (s *Site) renderAPIError(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *codersdk.Error
	if errors.As(err, &apiErr) {
		status := apiErr.StatusCode()
		msg := apiErr.Message
		if apiErr.Detail != "" && status < 500 {
			msg += ": " + apiErr.Detail
		}
		s.renderError(w, r, status, http.StatusText(status), msg)
		return
	}
	s.opts.Logger.Error("site: api call", "path", r.URL.Path, "error", err)
	s.renderError(w, r, http.StatusBadGateway, "Something went wrong", "The server could not answer this page; try again.")
}

// fieldErrors splits an API validation answer into per-field messages and
// a page-level message, so a form can show each error by its field.
func fieldErrors(err error) (page string, fields map[string]string) {
	var apiErr *codersdk.Error
	if !errors.As(err, &apiErr) {
		return err.Error(), nil
	}
	fields = map[string]string{}
	for _, v := range apiErr.Validations {
		fields[v.Field] = v.Detail
	}
	page = apiErr.Message
	if apiErr.Detail != "" {
		page += ": " + apiErr.Detail
	}
	return page, fields
}

func statusClass(s codersdk.WorkspaceStatus) string {
	switch s {
	case codersdk.WorkspaceStatusRunning:
		return "ok"
	case codersdk.WorkspaceStatusFailed, codersdk.WorkspaceStatusCanceled:
		return "bad"
	case codersdk.WorkspaceStatusStopped, codersdk.WorkspaceStatusDeleted:
		return "off"
	default:
		return "busy"
	}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func asAPIError(err error, target **codersdk.Error) bool { return errors.As(err, target) }
