package coderd

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/httpmw"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/coderd/rbac"
	"github.com/opencoder/coder/coderd/servertailnet"
	"github.com/opencoder/coder/coderd/workspaceapps"
	"github.com/opencoder/coder/codersdk"
)

// Site config keys of the workspace-app keys, shared by every replica.
const (
	appSigningKeyConfig    = "workspace_app_signing_key"
	appEncryptionKeyConfig = "workspace_app_encryption_key"
	// appKeysLock serializes the first creation of the keys.
	appKeysLock = 0x61707073 // "apps"
)

// loadAppKeys reads the deployment's app keys, creating them on first
// start (under an advisory lock, so replicas starting together agree).
func loadAppKeys(ctx context.Context, db *database.Store) (workspaceapps.Keys, error) {
	var keys workspaceapps.Keys
	err := db.InTx(ctx, func(tx *database.Store) error {
		if err := tx.AdvisoryXactLock(ctx, appKeysLock); err != nil {
			return err
		}
		sign, err1 := tx.GetSiteConfig(ctx, appSigningKeyConfig)
		enc, err2 := tx.GetSiteConfig(ctx, appEncryptionKeyConfig)
		if err1 == nil && err2 == nil {
			s, errS := hex.DecodeString(sign)
			e, errE := hex.DecodeString(enc)
			if errS == nil && errE == nil && len(s) >= 32 && len(e) == 32 {
				keys = workspaceapps.Keys{Signing: s, Encryption: e}
				return nil
			}
			return fmt.Errorf("stored workspace app keys are corrupt (site_configs %s, %s): delete both rows to regenerate them", appSigningKeyConfig, appEncryptionKeyConfig)
		}
		if (err1 != nil && !errors.Is(err1, database.ErrNotFound)) || (err2 != nil && !errors.Is(err2, database.ErrNotFound)) {
			return errors.Join(err1, err2)
		}
		fresh, err := workspaceapps.NewKeys()
		if err != nil {
			return err
		}
		if err := tx.UpsertSiteConfig(ctx, appSigningKeyConfig, hex.EncodeToString(fresh.Signing)); err != nil {
			return err
		}
		if err := tx.UpsertSiteConfig(ctx, appEncryptionKeyConfig, hex.EncodeToString(fresh.Encryption)); err != nil {
			return err
		}
		keys = fresh
		return nil
	})
	if err != nil {
		return workspaceapps.Keys{}, fmt.Errorf("load workspace app keys: %w", err)
	}
	return keys, nil
}

// apiKeyOptions is how this deployment checks session and API tokens.
func (api *API) apiKeyOptions() httpmw.APIKeyOptions {
	return httpmw.APIKeyOptions{DB: api.opts.DB, Logger: api.opts.Logger, SessionLifetime: api.opts.SessionLifetime, Now: api.opts.Now}
}

// tailnetDialer reaches agents' ports through coderd's own tailnet node.
type tailnetDialer struct{ s *servertailnet.Server }

func (d tailnetDialer) DialAgent(ctx context.Context, agent uuid.UUID, port uint16) (net.Conn, error) {
	return d.s.Dial(ctx, agent, port)
}

// appResolver decides who may reach which app, from the database.
type appResolver struct{ api *API }

var errAppNotFound = &workspaceapps.Error{Status: http.StatusNotFound, Message: "No such app, or you may not open it."}

// Resolve implements workspaceapps.Resolver. Every refusal for a signed-in
// caller is the same 404, so an app's existence does not leak; an
// anonymous caller is asked to sign in unless the app is public.
func (r appResolver) Resolve(ctx context.Context, token string, req workspaceapps.Request) (workspaceapps.Token, error) {
	db := r.api.opts.DB
	var actor *httpmw.Actor
	if token != "" {
		a, err := r.api.apiKeyOptions().Authenticate(ctx, token, nil)
		var ae *httpmw.AuthError
		switch {
		case errors.As(err, &ae) && ae.Internal != nil:
			return workspaceapps.Token{}, fmt.Errorf("authenticate: %w", err)
		case err == nil:
			actor = &a
		}
	}
	anonymous := func() (workspaceapps.Token, error) {
		if actor == nil {
			return workspaceapps.Token{}, workspaceapps.ErrSignInRequired
		}
		return workspaceapps.Token{}, errAppNotFound
	}
	owner, err := db.GetUserByEmailOrUsername(ctx, "", req.Username)
	if errors.Is(err, database.ErrNotFound) {
		return anonymous()
	}
	if err != nil {
		return workspaceapps.Token{}, fmt.Errorf("look up app owner: %w", err)
	}
	ws, err := db.GetWorkspaceByOwnerAndName(ctx, owner.ID, req.WorkspaceName)
	if errors.Is(err, database.ErrNotFound) {
		return anonymous()
	}
	if err != nil {
		return workspaceapps.Token{}, fmt.Errorf("look up app workspace: %w", err)
	}
	agent, spec, found, err := r.agent(ctx, ws, req.AgentName)
	if err != nil {
		return workspaceapps.Token{}, err
	}
	if !found {
		return anonymous()
	}
	share, target, err := appTarget(spec, req)
	if err != nil {
		if actor == nil {
			return anonymous()
		}
		return workspaceapps.Token{}, err
	}
	if !r.allowed(actor, ws, share) {
		return anonymous()
	}
	if !r.api.serverTailnet.AgentConnected(agent.ID) {
		return workspaceapps.Token{}, &workspaceapps.Error{Status: http.StatusBadGateway, Message: "The workspace's agent is not connected: start the workspace, or wait for it to finish starting."}
	}
	tok := workspaceapps.Token{Request: req, AgentID: agent.ID, TargetURL: target}
	if actor != nil {
		tok.UserID = actor.User.ID
	}
	// Opening an app is use of the workspace (again at each app token's
	// renewal while the app stays in use).
	r.api.bumpActivity(ctx, ws.ID)
	return tok, nil
}

// agent finds the named agent (or the only one) of the workspace's latest
// build.
func (r appResolver) agent(ctx context.Context, ws database.Workspace, name string) (database.WorkspaceAgent, provisionerdserver.AgentSpec, bool, error) {
	db := r.api.opts.DB
	build, err := db.GetLatestWorkspaceBuild(ctx, ws.ID)
	if errors.Is(err, database.ErrNotFound) {
		return database.WorkspaceAgent{}, provisionerdserver.AgentSpec{}, false, nil
	}
	if err != nil {
		return database.WorkspaceAgent{}, provisionerdserver.AgentSpec{}, false, fmt.Errorf("look up latest build: %w", err)
	}
	_, agents, err := r.api.resourceRowsForJobs(ctx, []uuid.UUID{build.JobID})
	if err != nil {
		return database.WorkspaceAgent{}, provisionerdserver.AgentSpec{}, false, fmt.Errorf("look up agents: %w", err)
	}
	var match []database.WorkspaceAgent
	for _, a := range agents {
		if name == "" || strings.EqualFold(a.Name, name) {
			match = append(match, a)
		}
	}
	if len(match) != 1 {
		return database.WorkspaceAgent{}, provisionerdserver.AgentSpec{}, false, nil
	}
	spec, err := decodeAgentSpec(match[0])
	if err != nil {
		return database.WorkspaceAgent{}, provisionerdserver.AgentSpec{}, false, err
	}
	return match[0], spec, true, nil
}

// appTarget returns the sharing level and the URL (as the agent sees it)
// of the addressed app or port.
func appTarget(spec provisionerdserver.AgentSpec, req workspaceapps.Request) (share, target string, err error) {
	if req.Port != 0 {
		// Listening ports are the owner's alone.
		return "owner", "http://127.0.0.1:" + strconv.Itoa(int(req.Port)), nil
	}
	i := slices.IndexFunc(spec.Apps, func(a codersdk.ProvisionerApp) bool { return strings.EqualFold(a.Slug, req.Slug) })
	if i < 0 {
		return "", "", errAppNotFound
	}
	app := spec.Apps[i]
	if app.URL == "" || app.External {
		return "", "", &workspaceapps.Error{Status: http.StatusNotFound, Message: "App " + app.Slug + " is not a web app served by the workspace (it has no url, or is external): open it from the dashboard."}
	}
	u, err := url.Parse(app.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", &workspaceapps.Error{Status: http.StatusBadGateway, Message: "App " + app.Slug + " has an invalid url " + strconv.Quote(app.URL) + " in its template."}
	}
	share = app.Share
	if share == "" {
		share = "owner"
	}
	return share, app.URL, nil
}

// allowed applies an app's sharing level. Those who may connect to the
// workspace (its owner, site owners) may always open its apps.
func (r appResolver) allowed(actor *httpmw.Actor, ws database.Workspace, share string) bool {
	if share == "public" {
		return true
	}
	if actor == nil {
		return false
	}
	if rbac.Authorize(actor.Subject, rbac.ActionSSH, workspaceObject(ws)) {
		return true
	}
	switch share {
	case "authenticated":
		return true
	case "organization":
		return slices.Contains(actor.Subject.OrgIDs, ws.OrganizationID)
	default:
		return false
	}
}

// appTickets keeps redeemed subdomain sign-in tickets in the database, so
// a ticket works once across every replica.
type appTickets struct{ db *database.Store }

// UseTicket implements workspaceapps.TicketStore.
func (a appTickets) UseTicket(ctx context.Context, nonce string, expiry, now time.Time) (bool, error) {
	return a.db.UseAppTicketNonce(ctx, nonce, expiry, now)
}
