package codersdk

import (
	"context"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// Replica is one live coderd process of the deployment (every replica
// shares the database; see GET /api/v2/replicas).
type Replica struct {
	// ID identifies the replica for as long as its process runs.
	ID       uuid.UUID `json:"id"`
	Hostname string    `json:"hostname"`
	// CreatedAt is when the replica started.
	CreatedAt time.Time `json:"created_at"`
	// RelayAddress is where peers reach the replica's DERP server
	// (--derp-server-relay-url); empty when it was started without one.
	RelayAddress string `json:"relay_address"`
	// RegionID is the DERP region the replica serves.
	RegionID int32 `json:"region_id"`
	// Version is the replica's build version; replicas on different
	// versions mean a rolling upgrade is under way.
	Version string `json:"version"`
	// Error is what the replica reports as wrong (peers whose relay it
	// cannot reach, a missing relay address); empty when healthy.
	Error string `json:"error"`
	// DatabaseLatency is the replica's last database round trip, in
	// microseconds.
	DatabaseLatency int32 `json:"database_latency"`
}

// Replicas lists the deployment's live replicas, oldest first (owners and
// auditors, like the health report).
func (c *Client) Replicas(ctx context.Context) ([]Replica, error) {
	var out []Replica
	return out, c.do(ctx, http.MethodGet, "/api/v2/replicas", nil, http.StatusOK, &out)
}

// MixedVersions reports whether the replicas run more than one version.
func MixedVersions(replicas []Replica) bool {
	for _, r := range replicas {
		if r.Version != replicas[0].Version {
			return true
		}
	}
	return false
}
