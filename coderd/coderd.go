// Package coderd is the server: the REST API under /api/v2, authentication
// and authorization, and (as they land) the build-job queue, the tailnet
// coordinator and DERP relay.
//
// House rules: handlers are thin (decode, authorize, call the store, write
// one answer); every route is behind authentication unless it is listed in
// the public group below; a read the caller may not make answers 404.
package coderd

import (
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/userpassword"
	"github.com/opencoder/coder/codersdk"
)

// Options configure the API. DB and AccessURL are required.
type Options struct {
	AccessURL *url.URL
	DB        *database.Store
	Logger    *slog.Logger
	// SessionLifetime is how long a login session lasts after its last use.
	SessionLifetime time.Duration
	// MaxTokenLifetime caps named API tokens.
	MaxTokenLifetime time.Duration
	// LoginRateBurst and LoginRateInterval limit login attempts per client
	// IP: LoginRateBurst at once, then one per LoginRateInterval.
	LoginRateBurst    int
	LoginRateInterval time.Duration
	// PasswordParams is the argon2id cost for new password hashes.
	PasswordParams userpassword.Params
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// API is a running coderd HTTP API.
type API struct {
	opts    Options
	handler http.Handler
}

// New builds the API and its routes.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SessionLifetime == 0 {
		opts.SessionLifetime = 24 * time.Hour
	}
	if opts.MaxTokenLifetime == 0 {
		opts.MaxTokenLifetime = 365 * 24 * time.Hour
	}
	if opts.LoginRateBurst == 0 {
		opts.LoginRateBurst = 20
	}
	if opts.LoginRateInterval == 0 {
		opts.LoginRateInterval = 3 * time.Second
	}
	if opts.PasswordParams == (userpassword.Params{}) {
		opts.PasswordParams = userpassword.Default
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	api := &API{opts: opts}
	api.handler = api.routes()
	return api
}

// Handler serves the API.
func (api *API) Handler() http.Handler { return api.handler }

func (api *API) now() time.Time { return api.opts.Now().UTC().Truncate(time.Microsecond) }

func (api *API) routes() http.Handler {
	log := api.opts.Logger
	r := chi.NewRouter()
	r.Use(httpmw.RequestID, httpmw.Recover(log), httpmw.Logger(log), func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(codersdk.BuildVersionHeader, buildinfo.Version())
			next.ServeHTTP(w, r)
		})
	})
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		httpapi.Error(w, http.StatusNotFound, "Route not found.")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		httpapi.Error(w, http.StatusMethodNotAllowed, "Method not allowed.")
	})
	r.Get("/healthz", api.healthz)

	auth := httpmw.ExtractAPIKey(httpmw.APIKeyOptions{
		DB: api.opts.DB, Logger: log, SessionLifetime: api.opts.SessionLifetime, Now: api.opts.Now,
	})
	loginLimit := httpmw.NewRateLimiter(api.opts.LoginRateBurst, api.opts.LoginRateInterval, api.opts.Now)

	r.Route("/api/v2", func(r chi.Router) {
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			httpapi.Error(w, http.StatusNotFound, "Route not found.", r.Method+" "+r.URL.Path+" does not exist.")
		})
		// Public routes.
		r.Get("/", func(w http.ResponseWriter, _ *http.Request) {
			httpapi.Write(w, http.StatusOK, codersdk.Response{Message: "👋"})
		})
		r.Get("/buildinfo", api.buildInfo)
		r.Route("/users", func(r chi.Router) {
			r.Get("/first", api.firstUser)
			r.With(loginLimit.Middleware).Post("/first", api.postFirstUser)
			r.With(loginLimit.Middleware).Post("/login", api.postLogin)
			r.Get("/authmethods", api.authMethods)

			r.Group(func(r chi.Router) {
				r.Use(auth)
				r.Post("/logout", api.postLogout)
				r.Get("/", api.users)
				r.Post("/", api.postUser)
				r.Get("/roles", api.siteRoles)
				r.Route("/{user}", func(r chi.Router) {
					r.Use(api.extractUserParam)
					r.Get("/", api.user)
					r.Put("/status/suspend", api.putUserStatus(codersdk.UserStatusSuspended))
					r.Put("/status/activate", api.putUserStatus(codersdk.UserStatusActive))
					r.Put("/roles", api.putUserRoles)
					r.Get("/organizations", api.userOrganizations)
					r.Route("/keys", func(r chi.Router) {
						r.Get("/tokens", api.tokens)
						r.Post("/tokens", api.postToken)
						r.Get("/tokens/{keyname}", api.tokenByName)
						r.Delete("/{keyid}", api.deleteAPIKey)
					})
				})
			})
		})
		r.Group(func(r chi.Router) {
			r.Use(auth)
			r.Get("/organizations/{organization}", api.organization)
			r.Get("/audit", api.auditLogs)
		})
	})
	return r
}

func (api *API) healthz(w http.ResponseWriter, r *http.Request) {
	if err := api.opts.DB.Ping(r.Context()); err != nil {
		httpapi.Error(w, http.StatusServiceUnavailable, "Database unreachable.", err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("OK"))
}

func (api *API) buildInfo(w http.ResponseWriter, _ *http.Request) {
	httpapi.Write(w, http.StatusOK, codersdk.BuildInfoResponse{
		ExternalURL:  buildinfo.ExternalURL(),
		Version:      buildinfo.Version(),
		DashboardURL: api.opts.AccessURL.String(),
	})
}
