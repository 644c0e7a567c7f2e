package coderd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/workspaceapps"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site"
)

// This file puts the browser's side on the API's port: the dashboard
// (package site, an in-process client of this API) and workspace apps
// (package workspaceapps, through coderd's tailnet node).

// newAppsServer builds the workspace-app proxy; nil without a tailnet
// (there is no way to reach agents then).
func (api *API) newAppsServer(ctx context.Context) (*workspaceapps.Server, error) {
	if api.serverTailnet == nil {
		return nil, nil
	}
	keys, err := loadAppKeys(ctx, api.opts.DB)
	if err != nil {
		return nil, err
	}
	return workspaceapps.New(workspaceapps.Options{
		Keys: keys, Resolver: appResolver{api: api}, Dialer: tailnetDialer{s: api.serverTailnet},
		AccessURL: api.opts.AccessURL, Wildcard: api.opts.WildcardAccessURL, DisablePathApps: api.opts.DisablePathApps,
		SecureCookies: api.opts.AccessURL.Scheme == "https", Tickets: appTickets{db: api.opts.DB},
		Logger: api.opts.Logger.With("component", "workspaceapps"), Now: api.opts.Now,
	})
}

// mountBrowser adds the dashboard and path apps to r (everything the API
// routes leave unmatched) and returns the handler for the port: requests
// for app subdomains go to their app, and cross-origin state changes are
// refused before anything else sees them.
func (api *API) mountBrowser(r chi.Router) (http.Handler, error) {
	dash, err := site.New(site.Options{API: r, SecureCookies: api.opts.AccessURL.Scheme == "https", Logger: api.opts.Logger.With("component", "site"), Now: api.opts.Now})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	r.NotFound(func(w http.ResponseWriter, req *http.Request) {
		if api.apps != nil && strings.HasPrefix(req.URL.Path, "/@") {
			if _, _, _, err := workspaceapps.ParsePath(req.URL.Path); !errors.Is(err, workspaceapps.ErrNotApp) {
				api.apps.ServePath(w, req)
				return
			}
		}
		dash.ServeHTTP(w, req)
	})
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "Cross-origin request refused: this action must come from the dashboard's own pages.", http.StatusForbidden)
	}))
	var h http.Handler = csrf.Handler(r)
	if api.apps != nil && api.opts.WildcardAccessURL != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if api.apps.IsAppHost(req.Host) {
				api.apps.ServeSubdomain(w, req)
				return
			}
			inner.ServeHTTP(w, req)
		})
	}
	return h, nil
}

// appAuthRedirect serves /api/v2/applications/auth-redirect: the
// dashboard-origin half of subdomain app sign-in.
func (api *API) appAuthRedirect(w http.ResponseWriter, r *http.Request) {
	if api.apps == nil {
		http.Error(w, "Workspace apps need the server's tailnet, which is off.", http.StatusNotFound)
		return
	}
	api.apps.ServeAuthRedirect(w, r)
}

// appHost serves /api/v2/applications/host: how the dashboard should link
// to apps.
func (api *API) appHost(w http.ResponseWriter, _ *http.Request) {
	httpapi.Write(w, http.StatusOK, codersdk.AppHostResponse{Host: api.opts.WildcardAccessURL, PathAppsDisabled: api.opts.DisablePathApps})
}
