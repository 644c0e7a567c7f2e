// Package coderd is the server's HTTP API: the REST API under /api/v2
// (users, sessions and tokens, organizations, files, templates and their
// versions, workspaces and builds, audit logs, provisioner keys), the
// workspace agent API and the coordination websockets of agents and
// clients, the web terminal and agent ping (through coderd's own tailnet
// node), the DERP relay mount, agent binaries and health checks.
//
// The provisioner job protocol is coderd/provisionerdserver, which New
// builds and routes mounts; who may do what is coderd/rbac; storage is
// coderd/database; the tailnet coordinator and DERP server come from
// package tailnet through Options, and New builds coderd's own node on
// them (coderd/servertailnet) when the coordinator runs in this process.
//
// House rules: handlers are thin (decode, authorize, call the store, write
// one answer); {object} URL parameters are resolved by extractParam
// (urlparams.go); every route is behind authentication unless it is listed
// in the public group of routes; a read the caller may not make answers
// 404; every route has a row in an authorization matrix (authz*_test.go).
package coderd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/coderd/autostop"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/coderd/replicasync"
	"github.com/opencoder/coder/coderd/servertailnet"
	"github.com/opencoder/coder/coderd/userpassword"
	"github.com/opencoder/coder/coderd/workspaceapps"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
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

	// Pubsub carries job wake-ups and log notifications (required).
	Pubsub *pubsub.Pubsub
	// MaxFileSize and MaxFileEntries bound template uploads.
	MaxFileSize    int64
	MaxFileEntries int
	// ProvisionerPSK, when set, lets daemons authenticate with it.
	ProvisionerPSK string
	// BuiltinProvisionerPSK is a per-process secret the built-in daemons
	// use; it never leaves the process.
	BuiltinProvisionerPSK string
	// HeartbeatTimeout is how long a running job may go without a heartbeat
	// before the reaper fails it; ReapInterval is how often it looks
	// (defaults in provisionerdserver.Options).
	HeartbeatTimeout time.Duration
	ReapInterval     time.Duration
	// AcquirePollInterval is the safety-net poll of waiting daemons, in
	// case a notification is lost; wake-ups are normally instant.
	AcquirePollInterval time.Duration

	// Coordinator, DERPHandler and DERPMap make up the tailnet (nil: no
	// tailnet). DERPMap returns the map as tailcfg.DERPMap JSON.
	Coordinator Coordinator
	DERPHandler http.Handler
	DERPMap     func() json.RawMessage
	// BlockDirect makes every connection relay through DERP.
	BlockDirect bool
	// DERPForceWebSockets tells nodes to speak DERP over websockets.
	DERPForceWebSockets bool
	// BrowserOnly refuses CLI tailnet connections.
	BrowserOnly bool
	// AgentConnIdleTimeout is how long coderd's own tailnet node keeps a
	// tunnel to an agent after its last connection through it closed;
	// zero means servertailnet.DefaultIdleTimeout.
	AgentConnIdleTimeout time.Duration
	// WildcardAccessURL ("*.apps.example.com") turns on subdomain apps:
	// each app on its own origin, the mode apps that need the root path
	// (Jupyter, Vite) want. Empty: path apps only.
	WildcardAccessURL string
	// DisablePathApps refuses apps at /@user/workspace/apps/..., which
	// share the dashboard's origin.
	DisablePathApps bool
	// AgentBinariesDir holds coder-<os>-<arch> binaries for /bin.
	AgentBinariesDir string
	// DetachedWriteTimeout bounds database writes that must outlive their
	// request (audit entries, an agent's connect and disconnect times), so
	// a stuck database cannot pin their goroutines forever; zero means
	// DefaultDetachedWriteTimeout.
	DetachedWriteTimeout time.Duration
	// AutostopTick is how often the lifecycle executor looks for running
	// workspaces past their deadline; zero means autostop.DefaultTick
	// (a minute).
	AutostopTick time.Duration
	// PrometheusRegistry receives coderd's metrics (API requests, builds,
	// provisioner jobs, agents, pubsub); nil means no metrics. It is the
	// caller's, not the global registry, so tests and several APIs in one
	// process never collide.
	PrometheusRegistry *prometheus.Registry
	// Replicas is this process's entry in the replicas registry, which
	// GET /api/v2/replicas lists; the server command starts it before the
	// DERP mesh that follows it. Nil: New starts one with the defaults (no
	// relay address, the default heartbeat) and Close stops it.
	Replicas *replicasync.Manager
}

// DefaultDetachedWriteTimeout is the default Options.DetachedWriteTimeout:
// far above a healthy write, short enough that a hung one is given up.
const DefaultDetachedWriteTimeout = 10 * time.Second

// API is a running coderd HTTP API.
type API struct {
	opts    Options
	handler http.Handler
	// provisioners serves the daemons' job protocol and owns the job
	// queue's background loops.
	provisioners *provisionerdserver.Server
	// serverTailnet is coderd's own tailnet node (nil without a tailnet);
	// bridges are the web terminals running through it.
	serverTailnet *servertailnet.Server
	bridges       bridgeGroup
	router        chi.Router
	// apps proxies workspace apps (nil without a tailnet).
	apps *workspaceapps.Server
	// autostop stops workspaces past their deadline (nil until New has
	// started it).
	autostop *autostop.Executor
	// metricsMW records API request metrics (nil without
	// Options.PrometheusRegistry).
	metricsMW func(http.Handler) http.Handler
	// metrics are the API's own gauges (nil without a registry).
	metrics *apiMetrics
	// replicaSync is Options.Replicas or the one New started (then
	// ownReplicaSync, and Close stops it).
	replicaSync    *replicasync.Manager
	ownReplicaSync bool
	// derp is Options.DERPHandler behind the fence that closes it while
	// this replica is cut off from the registry (nil without a relay);
	// unwatchCutOff stops the fence's OnCutOff callback.
	derp          *derpFence
	unwatchCutOff func()
	// draining makes /healthz fail while the server, stopping, still
	// serves: see Drain.
	draining atomic.Bool
}

// New builds the API and its routes and starts its background loops; Close
// stops them.
func New(ctx context.Context, opts Options) (*API, error) {
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
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = 10 << 20
	}
	if opts.MaxFileEntries == 0 {
		opts.MaxFileEntries = 10000
	}
	if opts.DetachedWriteTimeout == 0 {
		opts.DetachedWriteTimeout = DefaultDetachedWriteTimeout
	}
	if opts.DB == nil || opts.Pubsub == nil || opts.AccessURL == nil {
		return nil, errors.New("coderd: DB, Pubsub and AccessURL are required")
	}
	var provMetrics *provisionerdserver.Metrics
	if opts.PrometheusRegistry != nil {
		var err error
		if provMetrics, err = provisionerdserver.NewMetrics(opts.PrometheusRegistry, opts.DB); err != nil {
			return nil, err
		}
	}
	prov, err := provisionerdserver.New(ctx, provisionerdserver.Options{
		DB: opts.DB, Pubsub: opts.Pubsub, Logger: opts.Logger, Now: opts.Now, AccessURL: opts.AccessURL,
		PSK: opts.ProvisionerPSK, BuiltinPSK: opts.BuiltinProvisionerPSK,
		HeartbeatTimeout: opts.HeartbeatTimeout, ReapInterval: opts.ReapInterval, AcquirePollInterval: opts.AcquirePollInterval,
		DetachedWriteTimeout: opts.DetachedWriteTimeout, Metrics: provMetrics,
	})
	if err != nil {
		return nil, fmt.Errorf("start provisioner server: %w", err)
	}
	stn, err := newServerTailnet(opts)
	if err != nil {
		_ = prov.Close()
		return nil, fmt.Errorf("start server tailnet: %w", err)
	}
	api := &API{opts: opts, provisioners: prov, serverTailnet: stn, replicaSync: opts.Replicas}
	fail := func(err error) (*API, error) {
		return nil, errors.Join(err, api.Close())
	}
	if api.replicaSync == nil {
		api.replicaSync, err = replicasync.New(ctx, opts.DB, opts.Pubsub, replicasync.Options{RegionID: tailnet.EmbeddedRegionID, Logger: opts.Logger.With("component", "replicas")})
		if err != nil {
			return fail(fmt.Errorf("register replica: %w", err))
		}
		api.ownReplicaSync = true
	}
	if opts.DERPHandler != nil {
		api.derp = newDERPFence(opts.DERPHandler, api.replicaSync.CutOff)
		api.unwatchCutOff = api.replicaSync.OnCutOff(api.derp.closeAll)
	}
	if opts.PrometheusRegistry != nil {
		if api.metricsMW, err = httpmw.Prometheus(opts.PrometheusRegistry); err != nil {
			return fail(err)
		}
		if api.metrics, err = newAPIMetrics(opts.PrometheusRegistry); err != nil {
			return fail(err)
		}
		if err := opts.PrometheusRegistry.Register(opts.Pubsub); err != nil {
			return fail(fmt.Errorf("register pubsub metrics: %w", err))
		}
	}
	if api.apps, err = api.newAppsServer(ctx); err != nil {
		return fail(fmt.Errorf("start workspace apps: %w", err))
	}
	if api.autostop, err = autostop.New(ctx, autostop.Options{
		DB: opts.DB, Logger: opts.Logger, Now: opts.Now, Tick: opts.AutostopTick, QueueStop: api.queueAutostop, Stopped: api.auditAutostop,
	}); err != nil {
		return fail(fmt.Errorf("start autostop: %w", err))
	}
	api.router = api.routes()
	if api.handler, err = api.mountBrowser(api.router); err != nil {
		return fail(err)
	}
	return api, nil
}

// Close stops the background loops (the job queue's, autostop's, the
// replica heartbeat New started) and the web terminals with coderd's
// tailnet node, and waits for them.
// Idempotent.
func (api *API) Close() error {
	var stopAutostop, stopReplica error
	if api.unwatchCutOff != nil {
		api.unwatchCutOff()
	}
	if api.autostop != nil {
		stopAutostop = api.autostop.Close()
	}
	if api.ownReplicaSync {
		stopReplica = api.replicaSync.Close()
	}
	return errors.Join(stopAutostop, api.closeServerTailnet(), api.provisioners.Close(), stopReplica)
}

// Drain makes /healthz answer 503 from now on while every other route
// serves as before: a stopping server calls it first, so that a load
// balancer's health checks take it out of the pool while it still accepts
// connections, rather than learning of it from refused connections and
// cut requests once it stops listening.
func (api *API) Drain() { api.draining.Store(true) }

// Autostop is the lifecycle executor, for tests that run a pass directly.
func (api *API) Autostop() *autostop.Executor { return api.autostop }

// AgentInitScripts returns the agent bootstrap scripts templates receive,
// per "<os>_<arch>" (see provisionerdserver.AgentInitScripts).
func AgentInitScripts() map[string]string { return provisionerdserver.AgentInitScripts() }

// Handler serves the API, the dashboard and workspace apps.
func (api *API) Handler() http.Handler { return api.handler }

// Routes is the API's router, for tests that walk every route.
func (api *API) Routes() chi.Routes { return api.router }

func (api *API) now() time.Time { return api.opts.Now().UTC().Truncate(time.Microsecond) }

// detached returns a context for a write that must finish even when the
// request ends (it keeps ctx's values), bounded by DetachedWriteTimeout.
func (api *API) detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), api.opts.DetachedWriteTimeout)
}

func (api *API) routes() chi.Router {
	log := api.opts.Logger
	r := chi.NewRouter()
	if api.metricsMW != nil {
		r.Use(api.metricsMW)
	}
	r.Use(httpmw.RequestID, httpmw.Recover(log), httpmw.Logger(log), httpmw.ValidText, func(next http.Handler) http.Handler {
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
	r.Get("/bin/{name}", api.agentBinary)
	r.Get("/derp/latency-check", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	if api.derp != nil {
		r.Handle("/derp", api.derp)
		r.Handle("/derp/*", api.derp)
	}

	auth := httpmw.ExtractAPIKey(api.apiKeyOptions())
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
		r.Get("/derp-map", api.derpMapHandler)
		// Checks the session itself: it answers browsers with redirects.
		r.Get("/applications/auth-redirect", api.appAuthRedirect)
		r.Route("/workspaceagents/me", func(r chi.Router) {
			r.Use(api.extractAgent)
			r.Get("/manifest", api.agentManifest)
			r.Post("/report-lifecycle", api.postAgentLifecycle)
			r.Post("/startup", api.postAgentStartup)
			r.Patch("/logs", api.patchAgentLogs)
			r.Post("/report-stats", api.postAgentStats)
			r.Post("/listening-ports", api.postAgentListeningPorts)
			r.Post("/app-health", api.postAgentAppHealth)
			r.Post("/metadata", api.postAgentMetadata)
			r.Post("/script-completed", api.postAgentScriptCompleted)
			r.Get("/gitsshkey", api.agentGitSSHKey)
			r.Get("/coordinate", api.agentCoordinate)
		})
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
					r.Get("/gitsshkey", api.gitSSHKey)
					r.Put("/gitsshkey", api.regenerateGitSSHKey)
					r.Post("/workspaces", api.postUserWorkspace)
					r.Get("/workspace/{workspacename}", api.workspaceByOwnerAndName)
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
			r.Get("/debug/health", api.debugHealth)
			r.Get("/replicas", api.replicas)
			r.Get("/applications/host", api.appHost)
			r.Get("/audit", api.auditLogs)
			r.Post("/files", api.postFile)
			r.Get("/files/{fileID}", api.file)
			r.Route("/organizations/{organization}", func(r chi.Router) {
				r.Use(api.extractOrgParam)
				r.Get("/", api.organization)
				r.Post("/templateversions", api.postTemplateVersion)
				r.Get("/templates", api.templates)
				r.Post("/templates", api.postTemplate)
				r.Get("/templates/{templatename}", api.templateByName)
				r.Get("/provisionerdaemons", api.provisionerDaemons)
				r.Get("/provisionerkeys", api.provisionerKeys)
				r.Post("/provisionerkeys", api.postProvisionerKey)
				r.Delete("/provisionerkeys/{keyname}", api.deleteProvisionerKey)
			})
			r.Get("/templates/examples", api.templateExamples)
			r.Route("/templates/{template}", func(r chi.Router) {
				r.Use(api.extractTemplateParam)
				r.Get("/", api.template)
				r.Patch("/", api.patchTemplateMeta)
				r.Delete("/", api.deleteTemplate)
				r.Get("/versions", api.templateVersionsByTemplate)
				r.Patch("/versions", api.patchActiveTemplateVersion)
			})
			r.Route("/templateversions/{templateversion}", func(r chi.Router) {
				r.Use(api.extractVersionParam)
				r.Get("/", api.templateVersion)
				r.Get("/rich-parameters", api.templateVersionRichParameters)
				r.Get("/presets", api.templateVersionPresets)
				r.Get("/variables", api.templateVersionVariables)
				r.Get("/resources", api.templateVersionResources)
				r.Get("/logs", api.templateVersionLogs)
				r.Patch("/cancel", api.cancelTemplateVersion)
				r.Post("/archive", api.archiveTemplateVersion)
				r.Post("/unarchive", api.unarchiveTemplateVersion)
			})
			r.Route("/workspaceagents/{workspaceagent}", func(r chi.Router) {
				r.Use(api.extractAgentParam)
				r.Get("/", api.workspaceAgent)
				r.Get("/connection", api.workspaceAgentConnection)
				r.Get("/logs", api.workspaceAgentLogs)
				r.Get("/listening-ports", api.workspaceAgentListeningPorts)
				r.Get("/coordinate", api.workspaceAgentCoordinate)
				r.Get("/pty", api.workspaceAgentPTY)
				r.Get("/ping", api.workspaceAgentPing)
				r.Get("/watch-metadata", api.watchAgentMetadata)
			})
			r.Get("/workspaces", api.workspaces)
			r.Route("/workspaces/{workspace}", func(r chi.Router) {
				r.Use(api.extractWorkspaceParam)
				r.Get("/", api.workspace)
				r.Get("/builds", api.workspaceBuilds)
				r.Post("/builds", api.postWorkspaceBuild)
				r.Put("/ttl", api.putWorkspaceTTL)
				r.Put("/extend", api.putExtendWorkspace)
			})
			r.Route("/workspacebuilds/{workspacebuild}", func(r chi.Router) {
				r.Use(api.extractBuildParam)
				r.Get("/", api.workspaceBuild)
				r.Get("/logs", api.workspaceBuildLogs)
				r.Get("/parameters", api.workspaceBuildParameters)
				r.Get("/state", api.workspaceBuildState)
				r.Put("/state", api.putWorkspaceBuildState)
				r.Patch("/cancel", api.cancelWorkspaceBuild)
			})
		})
		// Provisioner daemons: a provisioner key, the PSK, or an admin's token.
		r.Route("/provisionerdaemons/jobs", func(r chi.Router) {
			r.Use(api.provisioners.DaemonAuth(auth))
			r.Post("/acquire", api.provisioners.AcquireJob)
			r.Post("/{job}/update", api.provisioners.UpdateJob)
			r.Post("/{job}/complete", api.provisioners.CompleteJob)
			r.Post("/{job}/fail", api.provisioners.FailJob)
		})
	})
	return r
}

// healthz is the public liveness check: a status and nothing else, since
// anyone may call it. The cause of a failure is logged, and shown to those
// allowed by /api/v2/debug/health.
func (api *API) healthz(w http.ResponseWriter, r *http.Request) {
	if api.draining.Load() {
		httpapi.Error(w, http.StatusServiceUnavailable, "Shutting down.")
		return
	}
	if err := api.opts.DB.Ping(r.Context()); err != nil {
		api.opts.Logger.WarnContext(r.Context(), "health check: database unreachable", "error", err)
		httpapi.Error(w, http.StatusServiceUnavailable, "Database unreachable.")
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
