package coderd

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/healthcheck"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
)

// healthCheckTimeout bounds each check of the health report, so one hung
// dependency answers "unhealthy" instead of hanging the report.
const healthCheckTimeout = 10 * time.Second

// healthRun is one check of the report and where its answer goes.
type healthRun struct {
	out *codersdk.HealthCheck
	run func(context.Context) codersdk.HealthCheck
}

// healthReport runs every check at once and waits for all of them.
func (api *API) healthReport(ctx context.Context) codersdk.HealthReport {
	report := codersdk.HealthReport{Time: api.now()}
	runs := []healthRun{{&report.Database, api.healthDatabase}, {&report.Provisioners, api.healthProvisioners}}
	if api.opts.DERPMap == nil {
		skipped := codersdk.HealthCheck{Healthy: true, Skipped: "this server runs without a tailnet (no DERP map)"}
		report.DERP, report.STUN = skipped, skipped
	} else if derpMap, err := tailnet.ParseDERPMap(api.opts.DERPMap()); err != nil {
		bad := codersdk.HealthCheck{Error: "the DERP map does not decode: " + err.Error()}
		report.DERP, report.STUN = bad, bad
	} else {
		runs = append(runs,
			healthRun{&report.DERP, func(ctx context.Context) codersdk.HealthCheck { return healthcheck.DERP(ctx, derpMap, nil) }},
			healthRun{&report.STUN, func(ctx context.Context) codersdk.HealthCheck { return healthcheck.STUN(ctx, derpMap) }})
	}
	if api.opts.DERPHandler == nil {
		report.Websocket = codersdk.HealthCheck{Healthy: true, Skipped: "this server has no DERP relay, whose websocket endpoint the check dials"}
	} else {
		runs = append(runs, healthRun{&report.Websocket, func(ctx context.Context) codersdk.HealthCheck {
			return healthcheck.Websocket(ctx, api.opts.AccessURL, "/derp", &http.Client{})
		}})
	}
	var wg sync.WaitGroup
	for _, c := range runs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, healthCheckTimeout)
			defer cancel()
			*c.out = c.run(ctx)
		})
	}
	wg.Wait()
	report.Healthy = true
	for _, c := range []codersdk.HealthCheck{report.Database, report.DERP, report.STUN, report.Websocket, report.Provisioners} {
		report.Healthy = report.Healthy && c.Healthy
	}
	return report
}

func (api *API) healthDatabase(ctx context.Context) codersdk.HealthCheck {
	start := time.Now()
	err := api.opts.DB.Ping(ctx)
	check := codersdk.HealthCheck{Healthy: err == nil, LatencyMS: time.Since(start).Milliseconds()}
	if err != nil {
		check.Error = err.Error()
	}
	return check
}

// healthProvisioners judges the daemons of every organization seen in the
// last day.
func (api *API) healthProvisioners(ctx context.Context) codersdk.HealthCheck {
	now := api.now()
	rows, err := api.opts.DB.ListRecentProvisionerDaemons(ctx, now.Add(-24*time.Hour))
	if err != nil {
		return codersdk.HealthCheck{Error: "list provisioner daemons: " + err.Error()}
	}
	daemons := make([]codersdk.ProvisionerDaemon, 0, len(rows))
	for _, d := range rows {
		daemons = append(daemons, codersdk.ProvisionerDaemon{
			ID: d.ID, OrganizationID: d.OrganizationID, Name: d.Name, Version: d.Version, APIVersion: d.APIVersion,
			Tags: d.Tags, LastSeenAt: d.LastSeenAt, CurrentJob: d.CurrentJobID, Status: daemonStatus(d, now),
		})
	}
	return healthcheck.Provisioners(daemons, now)
}

// daemonStatus is a daemon's state as the daemon list shows it.
func daemonStatus(d database.ProvisionerDaemon, now time.Time) string {
	switch {
	case now.Sub(d.LastSeenAt) > daemonStaleAfter:
		return "offline"
	case d.CurrentJobID != nil:
		return "busy"
	default:
		return "idle"
	}
}

// debugHealth is the detailed health report, for those who may read the
// deployment's configuration (a read others may not make answers 404).
func (api *API) debugHealth(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceDeployment}) {
		httpapi.ResourceNotFound(w)
		return
	}
	httpapi.Write(w, http.StatusOK, api.healthReport(r.Context()))
}
