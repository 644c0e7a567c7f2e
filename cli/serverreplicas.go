package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/coordpg"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/coderd/replicasync"
	"github.com/opencoder/coder/tailnet"
)

// serverReplicas is this server's place among the replicas sharing its
// database: its row in the registry, the DERP mesh that joins its relay
// to theirs (following the registry's peer list), and the shared layer of
// its coordinator, through which agents and clients coordinating through
// different replicas find each other.
type serverReplicas struct {
	manager *replicasync.Manager
	mesh    *tailnet.DERPMesh
	unwatch func()
	shared  *coordpg.Coordinator
}

// startReplicas registers this server as a replica and meshes its DERP
// server with the live peers'. The mesh key comes from the database (made
// by the first replica), so replicas need no shared secret in their
// configuration. A server that finds live peers but has no relay URL is
// refused: clients whose DERP connection the load balancer sends to it
// could not be reached from the others.
func startReplicas(ctx context.Context, o serverOptions, accessURL *url.URL, db *database.Store, ps *pubsub.Pubsub, tn *serverTailnet, logger *slog.Logger) (*serverReplicas, error) {
	derp := tn.derp
	relay, err := parseRelayURL(o.derpRelayURL, accessURL)
	if err != nil {
		return nil, err
	}
	meshKey, err := db.EnsureDERPMeshKey(ctx)
	if err != nil {
		return nil, err
	}
	if err := derp.SetMeshKey(meshKey); err != nil {
		return nil, err
	}
	mgr, err := replicasync.New(ctx, db, ps, replicasync.Options{
		RelayAddress: relay, RegionID: tailnet.EmbeddedRegionID, Interval: o.replicaInterval,
		Logger: logger.With("component", "replicas"),
	})
	if err != nil {
		return nil, err
	}
	if relay == "" && len(mgr.Peers()) > 0 {
		peers, err := livePeers(ctx, mgr, logger)
		if err != nil {
			_ = mgr.Close()
			return nil, err
		}
		if len(peers) > 0 {
			_ = mgr.Close()
			return nil, relayRequired(o, peers)
		}
	}
	mesh, err := tailnet.NewDERPMesh(derp, logger.With("component", "derpmesh"), nil)
	if err != nil {
		_ = mgr.Close()
		return nil, err
	}
	follow := func() {
		peers := mgr.Peers()
		relays := make([]string, 0, len(peers))
		for _, p := range peers {
			if p.RelayAddress != "" {
				relays = append(relays, p.RelayAddress)
			}
		}
		mesh.SetAddresses(relays)
	}
	shared, err := coordpg.New(ctx, coordpg.Options{Core: tn.coordinator, Store: db, Pubsub: ps, Logger: logger.With("component", "coordpg")})
	if err != nil {
		_ = mgr.Close()
		_ = mesh.Close()
		return nil, fmt.Errorf("start shared coordinator: %w", err)
	}
	r := &serverReplicas{manager: mgr, mesh: mesh, unwatch: mgr.OnChange(follow), shared: shared}
	follow()
	if len(mgr.Peers()) > 0 {
		logger.Info("joined replicas", "replica_id", mgr.Self().ID, "peers", len(mgr.Peers()), "relay_address", relay)
	}
	return r, nil
}

// livePeers returns the peers seen heartbeating since this replica
// started: a row is live only once its updated_at moves (or it is new).
// A server restarted right after a crash finds its predecessor's row,
// fresh but dead; waiting for the row to either move or time out keeps
// that from refusing a lone server without a relay URL. The wait ends
// within one peer timeout.
func livePeers(ctx context.Context, mgr *replicasync.Manager, logger *slog.Logger) ([]database.Replica, error) {
	seen := map[uuid.UUID]time.Time{}
	for _, p := range mgr.Peers() {
		seen[p.ID] = p.UpdatedAt
	}
	logged := false
	for {
		peers := mgr.Peers()
		var alive []database.Replica
		for _, p := range peers {
			if at, ok := seen[p.ID]; !ok || p.UpdatedAt.After(at) {
				alive = append(alive, p)
			}
		}
		if len(alive) > 0 || len(peers) == 0 {
			return alive, nil
		}
		if !logged {
			logger.Info("found other replicas' rows; waiting to see whether they are alive (a crashed predecessor's row times out)",
				"replicas", len(peers), "timeout", mgr.PeerTimeout())
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(mgr.Interval() / 2):
		}
	}
}

func relayRequired(o serverOptions, peers []database.Replica) error {
	hosts := make([]string, 0, len(peers))
	for _, p := range peers {
		hosts = append(hosts, p.Hostname)
	}
	running := "another coderd replica is"
	if len(peers) > 1 {
		running = fmt.Sprintf("%d other coderd replicas are", len(peers))
	}
	return fmt.Errorf("%s running on this database (%s), so this one needs --derp-server-relay-url (CODER_DERP_SERVER_RELAY_URL): the URL at which they reach this replica directly, not through the load balancer (e.g. http://<this host's address>%s)",
		running, strings.Join(hosts, ", "), portSuffix(o.httpAddress))
}

// close detaches the shared coordinator (this replica's agents and
// clients are disconnected and reconnect through another replica; the
// others learn of it at once), then leaves the registry (peers drop this
// replica at once) and the mesh. Call it after the HTTP server has drained
// and before the coordinator and the DERP server close. Idempotent.
func (r *serverReplicas) close() {
	_ = r.shared.Close()
	r.unwatch()
	_ = r.manager.Close()
	_ = r.mesh.Close()
}

// parseRelayURL checks --derp-server-relay-url: an absolute http(s) URL
// with no path. An https relay behind an http access URL is refused: the
// process's DERP clients then speak plain HTTP (tailnet.ConfigureDERPScheme),
// so the mesh could never reach it.
func parseRelayURL(raw string, accessURL *url.URL) (string, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", fmt.Errorf("--derp-server-relay-url %q: must be an absolute http(s) URL without a path, e.g. http://10.0.0.5:3000", raw)
	}
	if u.Scheme == "https" && strings.EqualFold(accessURL.Scheme, "http") {
		return "", fmt.Errorf("--derp-server-relay-url %q: https relays need an https --access-url (with an http one, DERP in this process speaks plain HTTP)", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// portSuffix is ":port" of a listen address, for the example in an error.
func portSuffix(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return ""
}
