package coderd

import (
	"net/http"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/codersdk"
)

// replicas lists the live replicas as this one last read them (at most one
// heartbeat old; joins and clean leaves arrive at once). Like the health
// report it tells about the deployment's internals, so only those who may
// read the deployment's configuration see it; others get 404.
func (api *API) replicas(w http.ResponseWriter, r *http.Request) {
	actor, _ := httpmw.ActorFrom(r.Context())
	if !rbac.Authorize(actor.Subject, rbac.ActionRead, rbac.Object{Type: rbac.ResourceDeployment}) {
		httpapi.ResourceNotFound(w)
		return
	}
	all := api.replicaSync.All()
	out := make([]codersdk.Replica, 0, len(all))
	for _, rep := range all {
		out = append(out, convertReplica(rep))
	}
	httpapi.Write(w, http.StatusOK, out)
}

func convertReplica(r database.Replica) codersdk.Replica {
	return codersdk.Replica{
		ID: r.ID, Hostname: r.Hostname, CreatedAt: r.StartedAt, RelayAddress: r.RelayAddress,
		RegionID: r.RegionID, Version: r.Version, Error: r.Error,
		DatabaseLatency: int32(min(r.DatabaseLatency.Microseconds(), 1<<31-1)),
	}
}
