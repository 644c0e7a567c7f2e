package workspaceapps

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// Resolver decides whether the holder of sessionToken ("" when the browser
// sent none) may reach the app req names, and where it is. coderd
// implements it against the database and RBAC.
type Resolver interface {
	Resolve(ctx context.Context, sessionToken string, req Request) (Token, error)
}

// Error is a refusal with the status the browser should get. Resolvers
// return it; a 404 covers "no such app" and "not yours" alike.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Message }

// ErrSignInRequired is the Resolver's answer for an anonymous request to
// an app that is not public: the browser is sent to sign in.
var ErrSignInRequired = &Error{Status: http.StatusUnauthorized, Message: "sign in to open this app"}

// Options configure a Server.
type Options struct {
	Keys     Keys
	Resolver Resolver
	Dialer   Dialer
	// AccessURL is the dashboard's origin (where the session cookie is).
	AccessURL *url.URL
	// Wildcard is the subdomain pattern ("*.apps.example.com"); empty
	// disables subdomain apps.
	Wildcard string
	// DisablePathApps refuses path-addressed apps (they share the
	// dashboard's origin).
	DisablePathApps bool
	// TokenLifetime bounds an app token cookie (default 5 minutes): a
	// revoked permission takes at most this long to bite.
	TokenLifetime time.Duration
	SecureCookies bool
	// Tickets remembers redeemed sign-in tickets (default: this process's
	// memory, which is wrong with several replicas: coderd passes the
	// database).
	Tickets TicketStore
	Logger  *slog.Logger
	Now     func() time.Time
}

// ticketLifetime is how long a subdomain ticket may sit in a URL.
const ticketLifetime = time.Minute

const ticketRefused = "This sign-in link has expired or was already used; open the app again from the dashboard."

// Server serves workspace apps. It is safe for concurrent use.
type Server struct {
	opts  Options
	proxy *httputil.ReverseProxy
}

// New validates opts and returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Resolver == nil || opts.Dialer == nil || opts.AccessURL == nil {
		return nil, errors.New("workspaceapps: Resolver, Dialer and AccessURL are required")
	}
	if len(opts.Keys.Signing) < 32 || len(opts.Keys.Encryption) != 32 {
		return nil, errors.New("workspaceapps: keys must be 32 bytes")
	}
	if opts.Wildcard != "" {
		if _, err := ParseSubdomain("x--y--z"+strings.TrimPrefix(opts.Wildcard, "*"), opts.Wildcard); err != nil {
			return nil, err
		}
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Tickets == nil {
		opts.Tickets = &usedTickets{}
	}
	s := &Server{opts: opts}
	s.proxy = newReverseProxy(opts.Dialer, s.proxyError)
	return s, nil
}

// IsAppHost reports whether host is under the wildcard app domain.
func (s *Server) IsAppHost(host string) bool {
	if s.opts.Wildcard == "" {
		return false
	}
	_, err := ParseSubdomain(host, s.opts.Wildcard)
	return !errors.Is(err, ErrNotApp)
}

// ServePath serves /@user/workspace[.agent]/apps/slug/... and .../ports/N/.
func (s *Server) ServePath(w http.ResponseWriter, r *http.Request) {
	req, _, redirect, err := ParsePath(r.URL.Path)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	if s.opts.DisablePathApps {
		msg := "Path-based apps are disabled on this deployment"
		if s.opts.Wildcard != "" {
			msg += "; open it at " + s.subdomainURL(req, "/")
		}
		s.fail(w, r, http.StatusNotFound, msg+".")
		return
	}
	if redirect {
		u := *r.URL
		u.Path += "/"
		http.Redirect(w, r, u.RequestURI(), http.StatusTemporaryRedirect)
		return
	}
	tok, ok := s.tokenFromCookie(r, req)
	if !ok {
		tok, err = s.opts.Resolver.Resolve(r.Context(), sessionToken(r), req)
		if err != nil {
			if errors.Is(err, ErrSignInRequired) {
				http.Redirect(w, r, "/login?redirect="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.resolveFailed(w, r, err)
			return
		}
		if err := s.setTokenCookie(w, tok, req.BasePath); err != nil {
			s.fail(w, r, http.StatusInternalServerError, err.Error())
			return
		}
	}
	s.serveProxy(w, r, tok)
}

// ServeSubdomain serves a request whose Host is under the wildcard.
func (s *Server) ServeSubdomain(w http.ResponseWriter, r *http.Request) {
	req, err := ParseSubdomain(r.Host, s.opts.Wildcard)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, err.Error())
		return
	}
	if ticket := r.URL.Query().Get(TicketParam); ticket != "" {
		s.redeemTicket(w, r, req, ticket)
		return
	}
	tok, ok := s.tokenFromCookie(r, req)
	if !ok {
		// Public apps open without signing in; others go through the
		// dashboard's origin, where the session cookie lives.
		tok, err = s.opts.Resolver.Resolve(r.Context(), "", req)
		if err != nil {
			if errors.Is(err, ErrSignInRequired) {
				u := *s.opts.AccessURL
				u.Path = "/api/v2/applications/auth-redirect"
				u.RawQuery = url.Values{"redirect_uri": {s.requestURL(r)}}.Encode()
				http.Redirect(w, r, u.String(), http.StatusSeeOther)
				return
			}
			s.resolveFailed(w, r, err)
			return
		}
		if err := s.setTokenCookie(w, tok, "/"); err != nil {
			s.fail(w, r, http.StatusInternalServerError, err.Error())
			return
		}
	}
	s.serveProxy(w, r, tok)
}

// ServeAuthRedirect runs on the dashboard's origin: it checks the caller's
// session for the app named by redirect_uri and sends the browser back
// with a one-time ticket. redirect_uri must be an app under the wildcard:
// this is never an open redirect.
func (s *Server) ServeAuthRedirect(w http.ResponseWriter, r *http.Request) {
	if s.opts.Wildcard == "" {
		s.fail(w, r, http.StatusNotFound, "Subdomain apps are not enabled on this deployment (--wildcard-access-url).")
		return
	}
	target, err := url.Parse(r.URL.Query().Get("redirect_uri"))
	if err != nil || (target.Scheme != "http" && target.Scheme != "https") {
		s.fail(w, r, http.StatusBadRequest, "redirect_uri must be the absolute URL of an app.")
		return
	}
	req, err := ParseSubdomain(target.Host, s.opts.Wildcard)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "redirect_uri is not an app of this deployment.")
		return
	}
	token := sessionToken(r)
	if token == "" {
		http.Redirect(w, r, "/login?redirect="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	tok, err := s.opts.Resolver.Resolve(r.Context(), token, req)
	if err != nil {
		if errors.Is(err, ErrSignInRequired) {
			http.Redirect(w, r, "/login?redirect="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		s.resolveFailed(w, r, err)
		return
	}
	tok.Expiry = s.opts.Now().Add(ticketLifetime)
	tok.Nonce = randomNonce()
	ticket, err := s.opts.Keys.Encrypt(tok)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	q := target.Query()
	q.Set(TicketParam, ticket)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusSeeOther)
}

func (s *Server) redeemTicket(w http.ResponseWriter, r *http.Request, req Request, ticket string) {
	now := s.opts.Now()
	tok, err := s.opts.Keys.Decrypt(ticket, req, now)
	if err != nil || tok.Nonce == "" {
		s.fail(w, r, http.StatusUnauthorized, ticketRefused)
		return
	}
	fresh, err := s.opts.Tickets.UseTicket(r.Context(), tok.Nonce, tok.Expiry, now)
	if err != nil {
		s.opts.Logger.ErrorContext(r.Context(), "use app ticket", "error", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Could not check the sign-in link; try again shortly.")
		return
	}
	if !fresh {
		s.fail(w, r, http.StatusUnauthorized, ticketRefused)
		return
	}
	tok.Nonce = ""
	if err := s.setTokenCookie(w, tok, "/"); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	u := *r.URL
	u.RawQuery = stripTicket(r.URL.Query()).Encode()
	http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
}

func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request, tok Token) {
	ctx := context.WithValue(r.Context(), tokenKey{}, tok)
	s.proxy.ServeHTTP(w, r.WithContext(ctx))
}

func (s *Server) tokenFromCookie(r *http.Request, req Request) (Token, bool) {
	c, err := r.Cookie(TokenCookie)
	if err != nil {
		return Token{}, false
	}
	tok, err := s.opts.Keys.Verify(c.Value, req, s.opts.Now())
	return tok, err == nil
}

func (s *Server) setTokenCookie(w http.ResponseWriter, tok Token, path string) error {
	tok.Expiry = s.opts.Now().Add(s.opts.TokenLifetime)
	signed, err := s.opts.Keys.Sign(tok)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: TokenCookie, Value: signed, Path: path, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.opts.SecureCookies,
		Expires: tok.Expiry,
	})
	return nil
}

func (s *Server) resolveFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if errors.As(err, &ae) {
		s.fail(w, r, ae.Status, ae.Message)
		return
	}
	s.opts.Logger.Error("workspace app: resolve", "path", r.URL.Path, "error", err)
	s.fail(w, r, http.StatusInternalServerError, "Could not check access to this app; try again.")
}

func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the browser went away
	}
	tok, _ := r.Context().Value(tokenKey{}).(Token)
	s.opts.Logger.Info("workspace app: proxy", "app", tok.Request.Key(), "error", err)
	s.fail(w, r, appErrorStatus(err), fmt.Sprintf("The app did not answer: %v. Is it running in the workspace?", err))
}

var errorPage = template.Must(template.New("").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{.Status}} · App</title></head><body><h1>{{.Status}} {{.Text}}</h1><p>{{.Message}}</p></body></html>`))

// fail answers an error: a small page for browsers, the API's JSON error
// shape for everything else (scripts, and the API's own conventions for
// /api/v2 routes).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if !strings.Contains(r.Header.Get("Accept"), "text/html") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, map[string]any{"Status": status, "Text": http.StatusText(status), "Message": msg})
}

func (s *Server) subdomainURL(req Request, path string) string {
	u := *s.opts.AccessURL
	req.Method = AccessSubdomain
	u.Host = SubdomainHost(s.opts.Wildcard, req)
	if p := s.opts.AccessURL.Port(); p != "" {
		u.Host += ":" + p
	}
	u.Path = path
	return u.String()
}

// requestURL rebuilds the absolute URL the browser asked for.
func (s *Server) requestURL(r *http.Request) string {
	scheme := s.opts.AccessURL.Scheme
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// sessionToken is the caller's session from the cookie or header.
func sessionToken(r *http.Request) string {
	if t := r.Header.Get("Coder-Session-Token"); t != "" {
		return t
	}
	if c, err := r.Cookie("coder_session_token"); err == nil {
		return c.Value
	}
	return ""
}

func randomNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
