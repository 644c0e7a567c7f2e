package site

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

//go:embed pages/*.html
var pageFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the dashboard.
type Options struct {
	// API is coderd's API handler; pages call it in-process.
	API http.Handler
	// SecureCookies marks the session cookie Secure (the access URL is
	// HTTPS).
	SecureCookies bool
	Logger        *slog.Logger
	// Now is the clock for relative times; time.Now when nil.
	Now func() time.Time
}

// Site serves the dashboard. It is safe for concurrent use.
type Site struct {
	// Set at construction, then read-only.
	opts      Options
	transport http.RoundTripper
	pages     map[string]*template.Template
	static    http.Handler
	router    chi.Router
}

// New parses the embedded pages (a malformed page fails here, at start-up,
// not on a user's request) and builds the routes.
func New(opts Options) (*Site, error) {
	if opts.API == nil {
		return nil, errors.New("site: Options.API is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Site{opts: opts, transport: inprocTransport{api: opts.API}}
	pages, err := parsePages(s.funcs())
	if err != nil {
		return nil, err
	}
	s.pages = pages
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("site: static files: %w", err)
	}
	s.static = http.StripPrefix("/static/", staticHandler(sub))
	s.router = s.routes()
	return s, nil
}

// ServeHTTP serves the dashboard's routes.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

func (s *Site) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(securityHeaders)
	r.Get("/static/*", s.static.ServeHTTP)
	r.Get("/login", s.loginPage)
	r.Post("/login", s.postLogin)
	r.Get("/setup", s.setupPage)
	r.Post("/setup", s.postSetup)
	r.Post("/logout", s.postLogout)
	r.Group(func(r chi.Router) {
		r.Use(s.requireUser)
		r.Get("/", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/workspaces", http.StatusSeeOther)
		})
		s.workspaceRoutes(r)
		s.templateRoutes(r)
		s.starterRoutes(r)
		s.accountRoutes(r)
		s.adminRoutes(r)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is nothing at "+r.URL.Path+", or you cannot see it.")
	})
	return r
}

// securityHeaders applies the dashboard's browser policy: scripts and
// connections only from this origin, no framing, no sniffing. Inline
// styles are allowed because xterm.js sets its theme through a <style>
// element; inline scripts are not.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// staticHandler serves embedded assets with a short cache lifetime (the
// binary may be upgraded under the same URLs).
func staticHandler(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || r.URL.Path == "" {
			http.NotFound(w, r)
			return
		}
		if path.Base(r.URL.Path) == "xterm.js" {
			if _, err := fs.Stat(fsys, strings.TrimPrefix(r.URL.Path, "/")); err != nil {
				http.Error(w, "xterm.js is not built into this binary: install Debian's node-xterm and rebuild with make build (it runs scripts/xtermbundle)", http.StatusNotFound)
				return
			}
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		fileServer.ServeHTTP(w, r)
	})
}

// user is the signed-in caller of a page.
type user struct {
	codersdk.User
	Token string
}

// IsOwner reports whether the caller has the deployment owner role.
func (u user) IsOwner() bool {
	for _, r := range u.Roles {
		if r.Name == "owner" {
			return true
		}
	}
	return false
}

// CanCreateTemplates reports whether the API lets the caller create
// templates (owners and template admins), so pages offer only what works.
func (u user) CanCreateTemplates() bool {
	for _, r := range u.Roles {
		if r.Name == codersdk.RoleOwner || r.Name == codersdk.RoleTemplateAdmin {
			return true
		}
	}
	return false
}

type userKey struct{}

func currentUser(ctx context.Context) user {
	u, _ := ctx.Value(userKey{}).(user)
	return u
}

// requireUser loads the caller from the session cookie, or sends the
// browser to /login (then back here) when there is none or it expired.
func (s *Site) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(codersdk.SessionTokenCookie)
		if err != nil || c.Value == "" {
			s.toLogin(w, r)
			return
		}
		ctx := withRemoteAddr(r.Context(), r.RemoteAddr)
		me, err := s.client(c.Value).User(ctx, codersdk.Me)
		if err != nil {
			if codersdk.IsStatus(err, http.StatusUnauthorized) {
				s.clearSession(w)
				s.toLogin(w, r)
				return
			}
			s.renderAPIError(w, r, err)
			return
		}
		ctx = context.WithValue(ctx, userKey{}, user{User: me, Token: c.Value})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (s *Site) toLogin(w http.ResponseWriter, r *http.Request) {
	target := "/login"
	if r.URL.Path != "/" {
		target += "?redirect=" + urlQueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// safeRedirect returns target when it is a path on this origin, else
// fallback: never an absolute URL, a scheme-relative "//host" or a
// backslash form that browsers treat as one.
func safeRedirect(target, fallback string) string {
	if target == "" || !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") || strings.ContainsAny(target, "\r\n\t") {
		return fallback
	}
	return target
}
