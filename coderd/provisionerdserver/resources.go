package provisionerdserver

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// AgentSpec is what workspace_agents.spec holds: the provisioner's view of
// the agent minus what has columns of its own.
type AgentSpec struct {
	Env                      map[string]string                   `json:"env,omitempty"`
	ConnectionTimeoutSeconds int32                               `json:"connection_timeout_seconds"`
	TroubleshootingURL       string                              `json:"troubleshooting_url,omitempty"`
	MOTDFile                 string                              `json:"motd_file,omitempty"`
	Scripts                  []codersdk.ProvisionerScript        `json:"scripts,omitempty"`
	Apps                     []codersdk.ProvisionerApp           `json:"apps,omitempty"`
	Metadata                 []codersdk.ProvisionerAgentMetadata `json:"metadata,omitempty"`
	Order                    int64                               `json:"order"`
	// DisplayApps is the display_apps block; nil (no block, or a spec
	// stored before it was kept) means the provider's defaults.
	DisplayApps *codersdk.ProvisionerDisplayApps `json:"display_apps,omitempty"`
}

// insertResources stores what a job found. Agent tokens are stored hashed;
// import jobs have none, so a random one stands in (never handed out).
func insertResources(ctx context.Context, tx *database.Store, jobID uuid.UUID, transition string, rs []codersdk.ProvisionerResource, now time.Time) error {
	for _, r := range rs {
		meta, err := json.Marshal(r.Metadata)
		if err != nil {
			return err
		}
		res := database.WorkspaceResource{ID: uuid.New(), JobID: jobID, Transition: transition, Type: httpapi.Truncate(r.Type, 256), Name: httpapi.Truncate(r.Name, 256),
			Hide: r.Hide, Icon: httpapi.Truncate(r.Icon, 256), DailyCost: r.DailyCost, Metadata: meta, CreatedAt: now}
		if err := tx.InsertWorkspaceResource(ctx, res); err != nil {
			return err
		}
		for _, a := range r.Agents {
			token := a.Token
			if token == "" {
				token = uuid.NewString()
			}
			spec, err := json.Marshal(AgentSpec{Env: a.Env, ConnectionTimeoutSeconds: a.ConnectionTimeoutSeconds, TroubleshootingURL: a.TroubleshootingURL,
				MOTDFile: a.MOTDFile, Scripts: a.Scripts, Apps: a.Apps, Metadata: a.Metadata, DisplayApps: a.DisplayApps, Order: a.Order})
			if err != nil {
				return err
			}
			auth := a.Auth
			if auth == "" {
				auth = "token"
			}
			if err := tx.InsertWorkspaceAgent(ctx, database.WorkspaceAgent{ID: uuid.New(), ResourceID: res.ID, Name: httpapi.Truncate(a.Name, 64),
				HashedToken: apikey.Hash(token), Auth: auth, OS: a.OS, Arch: a.Arch, Directory: a.Directory, Spec: spec, CreatedAt: now}); err != nil {
				return err
			}
		}
	}
	return nil
}
