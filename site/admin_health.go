package site

import (
	"net/http"

	"github.com/opencoder/coder/codersdk"
)

// healthRow is one check of the report, named for the page.
type healthRow struct {
	Name  string
	About string
	codersdk.HealthCheck
}

type adminHealthData struct {
	Tab    adminTab
	Report codersdk.HealthReport
	Checks []healthRow
}

func (s *Site) adminHealthPage(w http.ResponseWriter, r *http.Request) {
	report, err := s.client(currentUser(r.Context()).Token).DebugHealth(r.Context())
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	data := adminHealthData{Tab: "health", Report: report, Checks: []healthRow{
		{"Database", "coderd's PostgreSQL: everything needs it.", report.Database},
		{"DERP", "The relays in the DERP map: connections to workspaces fall back to them.", report.DERP},
		{"STUN", "The STUN servers in the DERP map: nodes use them to connect directly.", report.STUN},
		{"Websocket", "A websocket through the access URL: terminals, build logs and browsers need them.", report.Websocket},
		{"Provisioners", "The provisioner daemons: without one online, nothing is built.", report.Provisioners},
	}}
	s.render(w, r, http.StatusOK, "admin_health", view{Title: "Health", Data: data})
}
