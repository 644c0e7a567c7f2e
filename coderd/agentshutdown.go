package coderd

import (
	"context"
	"fmt"
	"net/http"

	"github.com/opencoder/coder/coderd/database"
)

// shutdownReports are the agent routes an agent may still call while the
// build that replaces its own runs: the stop scripts' output and results,
// and the lifecycle states of its shutdown (shutting_down, then off,
// shutdown_error or shutdown_timeout). The incumbent's agents keep the
// connection they opened at start for this; ours make a request each time,
// so coderd allows these explicitly.
var shutdownReports = map[string]bool{
	http.MethodPost + " /api/v2/workspaceagents/me/report-lifecycle": true,
	http.MethodPatch + " /api/v2/workspaceagents/me/logs":            true,
	http.MethodPost + " /api/v2/workspaceagents/me/script-completed": true,
}

// agentStopping reports whether the agent of an older build may make this
// request: its build is the one just before latest, latest's job (the stop,
// delete or new start whose Terraform stops the agent's machine) has not
// completed, and the request is one of the shutdown reports. Once that job
// completed, the machine is gone and the token is refused as before.
func (api *API) agentStopping(ctx context.Context, r *http.Request, ac database.AgentContext, latest database.WorkspaceBuild) (bool, error) {
	if ac.Workspace.Deleted || latest.BuildNumber != ac.Build.BuildNumber+1 || !shutdownReports[r.Method+" "+r.URL.Path] {
		return false, nil
	}
	job, err := api.opts.DB.GetProvisionerJobByID(ctx, latest.JobID)
	if err != nil {
		return false, fmt.Errorf("get job of build %d: %w", latest.BuildNumber, err)
	}
	return job.CompletedAt == nil, nil
}
