package coderd_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// roleCallers are the callers with a usable session.
var roleCallers = []caller{member, userAdmin, templateAdmin, auditor, owner}

// provParams is what every fixture import "found": one optional, mutable
// parameter, so workspaces need no values and rebuilds may change it.
var provParams = []codersdk.TemplateVersionParameter{{Name: "size", Type: "string", DefaultValue: "small", Mutable: true}}

// callerObjs are one user's objects in the provisioning fixture, one per
// purpose, so cells that change state never meet. The template, versions
// and key are the owner's, handed to the user's cells alone.
type callerObjs struct {
	file           uuid.UUID          // uploaded by the user
	ws             codersdk.Workspace // running with one agent; only read
	agent          uuid.UUID          // ws's agent
	buildWS        uuid.UUID          // running; the build rows queue a stop on it
	pendingBuild   uuid.UUID          // a queued stop of another running workspace; the cancel rows cancel it
	template       codersdk.Template  // unused; the delete row deletes it
	version        uuid.UUID          // imported, in no template; the create-template row uses it
	key            string             // a provisioner key the delete row deletes
	pendingVersion uuid.UUID          // a queued import of the shared template; the cancel row cancels it
	doneVersion    uuid.UUID          // a canceled import of the shared template; the archive row archives it
}

// provFixture is the foundation fixture plus templates, versions,
// workspaces and agents, made by playing the provisioner daemon by hand.
// It is built before any cell runs and nothing acquires jobs afterwards,
// so queued jobs stay queued.
type provFixture struct {
	*authzFixture
	tmpl       codersdk.Template        // in use by every workspace
	version    codersdk.TemplateVersion // tmpl's active version
	unattached uuid.UUID                // imported, in no template
	otherTmpl  codersdk.Template        // in the organization no role user belongs to
	objs       map[caller]*callerObjs   // per role caller
	theirs     *callerObjs              // the victim's
}

// mine is whose objects c acts on: callers without a usable token act on
// the member's, and never get far enough to change them.
func (f *provFixture) mine(c caller) *callerObjs {
	if o, ok := f.objs[c]; ok {
		return o
	}
	return f.objs[member]
}

func newProvFixture(t *testing.T) *provFixture {
	t.Helper()
	f := &provFixture{authzFixture: newAuthzFixture(t), objs: map[caller]*callerObjs{}}
	ctx := testutil.Context(t, 3*time.Minute)
	daemon := coderdtest.DaemonClient(f.owner)
	file := f.upload(ctx, t, f.owner)
	f.version = f.importVersion(ctx, t, daemon, f.org, file, uuid.Nil)
	f.tmpl = f.createTemplate(ctx, t, f.org, f.version.ID)
	f.unattached = f.importVersion(ctx, t, daemon, f.org, file, uuid.Nil).ID

	// The other organization gets its template through a daemon holding
	// one of its provisioner keys.
	key, err := f.owner.CreateProvisionerKey(ctx, f.otherOrg, codersdk.CreateProvisionerKeyRequest{Name: "elsewhere"})
	require.NoError(t, err)
	otherDaemon := codersdk.New(f.srv.URL)
	otherDaemon.Header = http.Header{codersdk.ProvisionerDaemonKeyHeader: {key.Key}}
	f.otherTmpl = f.createTemplate(ctx, t, f.otherOrg, f.importVersion(ctx, t, otherDaemon, f.otherOrg, file, uuid.Nil).ID)

	users := map[caller]codersdk.User{}
	for _, c := range roleCallers {
		users[c] = f.users[c]
	}
	users["victim"] = f.victim
	cancelWS := map[*callerObjs]uuid.UUID{}
	for c, u := range users {
		o := &callerObjs{file: f.upload(ctx, t, f.clientAs(ctx, t, u))}
		o.ws, o.agent = f.runningWorkspace(ctx, t, daemon, u)
		bw, _ := f.runningWorkspace(ctx, t, daemon, u)
		o.buildWS = bw.ID
		cw, _ := f.runningWorkspace(ctx, t, daemon, u)
		cancelWS[o] = cw.ID
		o.template = f.createTemplate(ctx, t, f.org, f.importVersion(ctx, t, daemon, f.org, file, uuid.Nil).ID)
		o.version = f.importVersion(ctx, t, daemon, f.org, file, uuid.Nil).ID
		o.key = f.name("key")
		_, err := f.owner.CreateProvisionerKey(ctx, f.org, codersdk.CreateProvisionerKeyRequest{Name: o.key})
		require.NoError(t, err)
		if c == "victim" {
			f.theirs = o
		} else {
			f.objs[c] = o
		}
	}
	// Queue jobs last: nothing acquires after this.
	for o, ws := range cancelWS {
		b, err := f.owner.CreateWorkspaceBuild(ctx, ws, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
		require.NoError(t, err)
		o.pendingBuild = b.ID
		o.pendingVersion = f.queueVersion(ctx, t, file)
		o.doneVersion = f.queueVersion(ctx, t, file)
		require.NoError(t, f.owner.CancelTemplateVersion(ctx, o.doneVersion))
	}
	return f
}

// clientAs is a client with a fresh session of u.
func (f *provFixture) clientAs(ctx context.Context, t *testing.T, u codersdk.User) *codersdk.Client {
	t.Helper()
	tok, _ := mintToken(ctx, t, f.srv.DB, u.ID, time.Now().Add(time.Hour), "")
	c := codersdk.New(f.srv.URL)
	c.SetSessionToken(tok)
	return c
}

// upload stores a template archive no one uploaded before, as c.
func (f *provFixture) upload(ctx context.Context, t *testing.T, c *codersdk.Client) uuid.UUID {
	t.Helper()
	up, err := c.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(testutil.Tar(t, map[string]string{"main.tf": "# " + f.name("file")})))
	require.NoError(t, err)
	return up.ID
}

// queueVersion queues an import of file into the shared template.
func (f *provFixture) queueVersion(ctx context.Context, t *testing.T, file uuid.UUID) uuid.UUID {
	t.Helper()
	v, err := f.owner.CreateTemplateVersion(ctx, f.org, codersdk.CreateTemplateVersionRequest{
		StorageMethod: "file", Provisioner: "terraform", FileID: file, TemplateID: f.tmpl.ID})
	require.NoError(t, err)
	return v.ID
}

// importVersion queues an import and completes it as daemon.
func (f *provFixture) importVersion(ctx context.Context, t *testing.T, daemon *codersdk.Client, org, file, template uuid.UUID) codersdk.TemplateVersion {
	t.Helper()
	v, err := f.owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{
		StorageMethod: "file", Provisioner: "terraform", FileID: file, TemplateID: template})
	require.NoError(t, err)
	require.Equal(t, v.Job.ID, coderdtest.CompleteImport(t, daemon, provParams), "imported another version than expected")
	return v
}

func (f *provFixture) createTemplate(ctx context.Context, t *testing.T, org, version uuid.UUID) codersdk.Template {
	t.Helper()
	tmpl, err := f.owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: f.name("tmpl"), VersionID: version})
	require.NoError(t, err)
	return tmpl
}

// runningWorkspace makes a workspace of the shared template for u and
// completes its first build with one agent.
func (f *provFixture) runningWorkspace(ctx context.Context, t *testing.T, daemon *codersdk.Client, u codersdk.User) (codersdk.Workspace, uuid.UUID) {
	t.Helper()
	ws, err := f.owner.CreateUserWorkspace(ctx, u.ID.String(), codersdk.CreateWorkspaceRequest{TemplateID: f.tmpl.ID, Name: f.name("ws")})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, uuid.NewString())
	ws, err = f.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.WorkspaceStatusRunning, ws.LatestBuild.Status)
	require.Len(t, ws.LatestBuild.Resources, 1)
	require.Len(t, ws.LatestBuild.Resources[0].Agents, 1)
	return ws, ws.LatestBuild.Resources[0].Agents[0].ID
}

// provReq is one request of a provisioning row.
type provReq struct {
	path string
	body any
	// tar, when set, is sent as the body: a tar archive of these files,
	// built with the cell's t.
	tar  map[string]string
	opts []codersdk.RequestOption
	// websocket dials path instead; success is 101 Switching Protocols.
	websocket bool
	// stream reads only the status of a streaming answer (server-sent
	// events), then hangs up.
	stream bool
}

// provRow is one route (or one way of calling it) of the provisioning
// matrix, across every caller.
type provRow struct {
	name, method string
	route        string // the chi pattern, for TestAuthzMatrixCoversRoutes
	req          func(f *provFixture, c caller) provReq
	want         expect
}

// idOf picks the object a cell of caller c acts on.
type idOf func(f *provFixture, c caller) string

func at(prefix string, id idOf, suffix string) func(*provFixture, caller) provReq {
	return func(f *provFixture, c caller) provReq { return provReq{path: prefix + id(f, c) + suffix} }
}

func atWith(prefix string, id idOf, suffix string, body func(f *provFixture, c caller) any) func(*provFixture, caller) provReq {
	return func(f *provFixture, c caller) provReq {
		return provReq{path: prefix + id(f, c) + suffix, body: body(f, c)}
	}
}

func dial(prefix string, id idOf, suffix string) func(*provFixture, caller) provReq {
	return func(f *provFixture, c caller) provReq {
		return provReq{path: prefix + id(f, c) + suffix, websocket: true}
	}
}

func stream(prefix string, id idOf, suffix string) func(*provFixture, caller) provReq {
	return func(f *provFixture, c caller) provReq {
		return provReq{path: prefix + id(f, c) + suffix, stream: true}
	}
}

func lit(s string) idOf { return func(*provFixture, caller) string { return s } }

var missingID = uuid.NewString()

func defaultOrg(f *provFixture, _ caller) string       { return f.org.String() }
func otherOrg(f *provFixture, _ caller) string         { return f.otherOrg.String() }
func myFile(f *provFixture, c caller) string           { return f.mine(c).file.String() }
func theirFile(f *provFixture, _ caller) string        { return f.theirs.file.String() }
func sharedTmpl(f *provFixture, _ caller) string       { return f.tmpl.ID.String() }
func otherTmpl(f *provFixture, _ caller) string        { return f.otherTmpl.ID.String() }
func myTmpl(f *provFixture, c caller) string           { return f.mine(c).template.ID.String() }
func sharedVersion(f *provFixture, _ caller) string    { return f.version.ID.String() }
func unattached(f *provFixture, _ caller) string       { return f.unattached.String() }
func otherVersion(f *provFixture, _ caller) string     { return f.otherTmpl.ActiveVersionID.String() }
func myPendingVersion(f *provFixture, c caller) string { return f.mine(c).pendingVersion.String() }
func myDoneVersion(f *provFixture, c caller) string    { return f.mine(c).doneVersion.String() }
func myWS(f *provFixture, c caller) string             { return f.mine(c).ws.ID.String() }
func theirWS(f *provFixture, _ caller) string          { return f.theirs.ws.ID.String() }
func myWSName(f *provFixture, c caller) string         { return f.mine(c).ws.Name }
func theirWSByName(f *provFixture, _ caller) string {
	return f.victim.Username + "/workspace/" + f.theirs.ws.Name
}
func myBuildWS(f *provFixture, c caller) string      { return f.mine(c).buildWS.String() }
func theirBuildWS(f *provFixture, _ caller) string   { return f.theirs.buildWS.String() }
func myBuild(f *provFixture, c caller) string        { return f.mine(c).ws.LatestBuild.ID.String() }
func theirBuild(f *provFixture, _ caller) string     { return f.theirs.ws.LatestBuild.ID.String() }
func myPendingBuild(f *provFixture, c caller) string { return f.mine(c).pendingBuild.String() }
func theirPendingBuild(f *provFixture, _ caller) string {
	return f.theirs.pendingBuild.String()
}
func myAgent(f *provFixture, c caller) string    { return f.mine(c).agent.String() }
func theirAgent(f *provFixture, _ caller) string { return f.theirs.agent.String() }
func myKey(f *provFixture, c caller) string      { return f.mine(c).key }
func victimID(f *provFixture, _ caller) string   { return f.victim.ID.String() }

func uploadBody(f *provFixture, _ caller) provReq {
	return provReq{path: "/api/v2/files", tar: map[string]string{"main.tf": "# " + f.name("upload")},
		opts: []codersdk.RequestOption{codersdk.WithHeader("Content-Type", codersdk.ContentTypeTar)}}
}

func versionBody(f *provFixture, c caller) any {
	return codersdk.CreateTemplateVersionRequest{StorageMethod: "file", Provisioner: "terraform", FileID: f.mine(c).file}
}

func exampleVersionBody(*provFixture, caller) any {
	return codersdk.CreateTemplateVersionRequest{ExampleID: "docker"}
}

func stateBody(*provFixture, caller) any {
	return map[string]any{"version": 4, "resources": []any{}}
}

func templateMetaBody(*provFixture, caller) any {
	d := "edited by the authz matrix"
	return codersdk.UpdateTemplateMeta{Description: &d}
}

func templateBody(f *provFixture, c caller) any {
	return codersdk.CreateTemplateRequest{Name: f.name("tmpl"), VersionID: f.mine(c).version}
}

func keyBody(f *provFixture, _ caller) any {
	return codersdk.CreateProvisionerKeyRequest{Name: f.name("key")}
}

func stopBody(*provFixture, caller) any {
	return codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop}
}

func ttlBody(*provFixture, caller) any {
	ms := time.Hour.Milliseconds()
	return codersdk.UpdateWorkspaceTTLRequest{TTLMillis: &ms}
}

func extendBody(*provFixture, caller) any {
	return codersdk.PutExtendWorkspaceRequest{Deadline: time.Now().Add(2 * time.Hour)}
}

func workspaceBody(f *provFixture, _ caller) any {
	return codersdk.CreateWorkspaceRequest{TemplateID: f.tmpl.ID, Name: f.name("ws")}
}

const (
	orgsPath     = "/api/v2/organizations/"
	tmplsPath    = "/api/v2/templates/"
	versionsPath = "/api/v2/templateversions/"
	wsPath       = "/api/v2/workspaces/"
	buildsPath   = "/api/v2/workspacebuilds/"
	agentsPath   = "/api/v2/workspaceagents/"
	usersPath    = "/api/v2/users/"
)

// provisioningMatrix covers the provisioning routes for user callers.
// Columns of authed(): member, user-admin, template-admin, auditor, owner.
// "Mine" is the caller's own object, "theirs" the victim's (a plain
// member): hidden objects are 404 like missing ones, writes on visible
// objects the caller may not change are 403. Template admins manage
// templates, keys and daemons and read every workspace; auditors read
// templates; owners do everything.
var provisioningMatrix = []provRow{
	{"upload a file", "POST", "/api/v2/files", uploadBody, authed(201, 201, 201, 201, 201)},
	{"read my file", "GET", "/api/v2/files/{fileID}", at("/api/v2/files/", myFile, ""), authed(200, 200, 200, 200, 200)},
	{"read their file", "GET", "/api/v2/files/{fileID}", at("/api/v2/files/", theirFile, ""), authed(404, 404, 200, 404, 200)},
	{"read missing file", "GET", "/api/v2/files/{fileID}", at("/api/v2/files/", lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"read file by non-UUID", "GET", "/api/v2/files/{fileID}", at("/api/v2/files/", lit("main.tf"), ""), authed(404, 404, 404, 404, 404)},

	{"create version", "POST", "/api/v2/organizations/{organization}/templateversions", atWith(orgsPath, defaultOrg, "/templateversions", versionBody), authed(403, 403, 201, 403, 201)},
	{"create version from a starter", "POST", "/api/v2/organizations/{organization}/templateversions", atWith(orgsPath, defaultOrg, "/templateversions", exampleVersionBody), authed(403, 403, 201, 403, 201)},
	{"list starter templates", "GET", "/api/v2/templates/examples", at("/api/v2/templates/examples", lit(""), ""), authed(200, 200, 200, 200, 200)},
	{"create version elsewhere", "POST", "/api/v2/organizations/{organization}/templateversions", atWith(orgsPath, otherOrg, "/templateversions", versionBody), authed(404, 403, 201, 403, 201)},
	{"list templates", "GET", "/api/v2/organizations/{organization}/templates", at(orgsPath, defaultOrg, "/templates"), authed(200, 200, 200, 200, 200)},
	{"list templates elsewhere", "GET", "/api/v2/organizations/{organization}/templates", at(orgsPath, otherOrg, "/templates"), authed(404, 200, 200, 200, 200)},
	{"create template", "POST", "/api/v2/organizations/{organization}/templates", atWith(orgsPath, defaultOrg, "/templates", templateBody), authed(403, 403, 201, 403, 201)},
	{"template by name", "GET", "/api/v2/organizations/{organization}/templates/{templatename}", func(f *provFixture, c caller) provReq {
		return provReq{path: orgsPath + f.org.String() + "/templates/" + f.tmpl.Name}
	}, authed(200, 200, 200, 200, 200)},
	{"template by name elsewhere", "GET", "/api/v2/organizations/{organization}/templates/{templatename}", func(f *provFixture, c caller) provReq {
		return provReq{path: orgsPath + f.otherOrg.String() + "/templates/" + f.otherTmpl.Name}
	}, authed(404, 404, 200, 200, 200)},
	{"missing template by name", "GET", "/api/v2/organizations/{organization}/templates/{templatename}", at(orgsPath, defaultOrg, "/templates/nosuch"), authed(404, 404, 404, 404, 404)},
	{"list provisioner daemons", "GET", "/api/v2/organizations/{organization}/provisionerdaemons", at(orgsPath, defaultOrg, "/provisionerdaemons"), authed(404, 404, 200, 404, 200)},
	{"list provisioner keys", "GET", "/api/v2/organizations/{organization}/provisionerkeys", at(orgsPath, defaultOrg, "/provisionerkeys"), authed(404, 404, 200, 404, 200)},
	{"create provisioner key", "POST", "/api/v2/organizations/{organization}/provisionerkeys", atWith(orgsPath, defaultOrg, "/provisionerkeys", keyBody), authed(403, 403, 201, 403, 201)},
	{"create provisioner key elsewhere", "POST", "/api/v2/organizations/{organization}/provisionerkeys", atWith(orgsPath, otherOrg, "/provisionerkeys", keyBody), authed(404, 403, 201, 403, 201)},
	{"delete provisioner key", "DELETE", "/api/v2/organizations/{organization}/provisionerkeys/{keyname}", func(f *provFixture, c caller) provReq {
		return provReq{path: orgsPath + f.org.String() + "/provisionerkeys/" + myKey(f, c)}
	}, authed(404, 404, 204, 404, 204)},
	{"delete missing provisioner key", "DELETE", "/api/v2/organizations/{organization}/provisionerkeys/{keyname}", at(orgsPath, defaultOrg, "/provisionerkeys/nosuch"), authed(404, 404, 404, 404, 404)},

	{"read template", "GET", "/api/v2/templates/{template}", at(tmplsPath, sharedTmpl, ""), authed(200, 200, 200, 200, 200)},
	{"read template elsewhere", "GET", "/api/v2/templates/{template}", at(tmplsPath, otherTmpl, ""), authed(404, 404, 200, 200, 200)},
	{"read missing template", "GET", "/api/v2/templates/{template}", at(tmplsPath, lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"edit template", "PATCH", "/api/v2/templates/{template}", atWith(tmplsPath, sharedTmpl, "", templateMetaBody), authed(403, 403, 200, 403, 200)},
	{"edit template elsewhere", "PATCH", "/api/v2/templates/{template}", atWith(tmplsPath, otherTmpl, "", templateMetaBody), authed(404, 404, 200, 403, 200)},
	{"edit missing template", "PATCH", "/api/v2/templates/{template}", atWith(tmplsPath, lit(missingID), "", templateMetaBody), authed(404, 404, 404, 404, 404)},
	{"delete template", "DELETE", "/api/v2/templates/{template}", at(tmplsPath, myTmpl, ""), authed(403, 403, 200, 403, 200)},
	{"delete template in use", "DELETE", "/api/v2/templates/{template}", at(tmplsPath, sharedTmpl, ""), authed(403, 403, 409, 403, 409)},
	{"delete missing template", "DELETE", "/api/v2/templates/{template}", at(tmplsPath, lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"list versions", "GET", "/api/v2/templates/{template}/versions", at(tmplsPath, sharedTmpl, "/versions"), authed(200, 200, 200, 200, 200)},
	{"list versions elsewhere", "GET", "/api/v2/templates/{template}/versions", at(tmplsPath, otherTmpl, "/versions"), authed(404, 404, 200, 200, 200)},
	{"promote version", "PATCH", "/api/v2/templates/{template}/versions", atWith(tmplsPath, sharedTmpl, "/versions", func(f *provFixture, _ caller) any {
		return codersdk.UpdateActiveTemplateVersion{ID: f.version.ID}
	}), authed(403, 403, 200, 403, 200)},
	{"promote version elsewhere", "PATCH", "/api/v2/templates/{template}/versions", atWith(tmplsPath, otherTmpl, "/versions", func(f *provFixture, _ caller) any {
		return codersdk.UpdateActiveTemplateVersion{ID: f.otherTmpl.ActiveVersionID}
	}), authed(404, 404, 200, 403, 200)},

	{"read version", "GET", "/api/v2/templateversions/{templateversion}", at(versionsPath, sharedVersion, ""), authed(200, 200, 200, 200, 200)},
	{"read version in no template", "GET", "/api/v2/templateversions/{templateversion}", at(versionsPath, unattached, ""), authed(404, 404, 200, 200, 200)},
	{"read version elsewhere", "GET", "/api/v2/templateversions/{templateversion}", at(versionsPath, otherVersion, ""), authed(404, 404, 200, 200, 200)},
	{"read missing version", "GET", "/api/v2/templateversions/{templateversion}", at(versionsPath, lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"version parameters", "GET", "/api/v2/templateversions/{templateversion}/rich-parameters", at(versionsPath, sharedVersion, "/rich-parameters"), authed(200, 200, 200, 200, 200)},
	{"version parameters elsewhere", "GET", "/api/v2/templateversions/{templateversion}/rich-parameters", at(versionsPath, otherVersion, "/rich-parameters"), authed(404, 404, 200, 200, 200)},
	{"parameters of a queued version", "GET", "/api/v2/templateversions/{templateversion}/rich-parameters", at(versionsPath, myPendingVersion, "/rich-parameters"), authed(400, 400, 400, 400, 400)},
	{"version presets", "GET", "/api/v2/templateversions/{templateversion}/presets", at(versionsPath, sharedVersion, "/presets"), authed(200, 200, 200, 200, 200)},
	{"version presets elsewhere", "GET", "/api/v2/templateversions/{templateversion}/presets", at(versionsPath, otherVersion, "/presets"), authed(404, 404, 200, 200, 200)},
	{"version variables", "GET", "/api/v2/templateversions/{templateversion}/variables", at(versionsPath, sharedVersion, "/variables"), authed(200, 200, 200, 200, 200)},
	{"version variables elsewhere", "GET", "/api/v2/templateversions/{templateversion}/variables", at(versionsPath, otherVersion, "/variables"), authed(404, 404, 200, 200, 200)},
	{"variables of a queued version", "GET", "/api/v2/templateversions/{templateversion}/variables", at(versionsPath, myPendingVersion, "/variables"), authed(200, 200, 200, 200, 200)},
	{"version resources", "GET", "/api/v2/templateversions/{templateversion}/resources", at(versionsPath, sharedVersion, "/resources"), authed(200, 200, 200, 200, 200)},
	{"version resources elsewhere", "GET", "/api/v2/templateversions/{templateversion}/resources", at(versionsPath, otherVersion, "/resources"), authed(404, 404, 200, 200, 200)},
	{"version logs", "GET", "/api/v2/templateversions/{templateversion}/logs", at(versionsPath, sharedVersion, "/logs"), authed(200, 200, 200, 200, 200)},
	{"version logs elsewhere", "GET", "/api/v2/templateversions/{templateversion}/logs", at(versionsPath, otherVersion, "/logs"), authed(404, 404, 200, 200, 200)},
	{"cancel a queued version", "PATCH", "/api/v2/templateversions/{templateversion}/cancel", at(versionsPath, myPendingVersion, "/cancel"), authed(403, 403, 200, 403, 200)},
	{"cancel a finished version", "PATCH", "/api/v2/templateversions/{templateversion}/cancel", at(versionsPath, sharedVersion, "/cancel"), authed(403, 403, 400, 403, 400)},
	{"cancel a version elsewhere", "PATCH", "/api/v2/templateversions/{templateversion}/cancel", at(versionsPath, otherVersion, "/cancel"), authed(404, 404, 400, 403, 400)},
	{"archive a version", "POST", "/api/v2/templateversions/{templateversion}/archive", at(versionsPath, myDoneVersion, "/archive"), authed(403, 403, 200, 403, 200)},
	{"archive the active version", "POST", "/api/v2/templateversions/{templateversion}/archive", at(versionsPath, sharedVersion, "/archive"), authed(403, 403, 400, 403, 400)},
	{"unarchive a version that is not archived", "POST", "/api/v2/templateversions/{templateversion}/unarchive", at(versionsPath, sharedVersion, "/unarchive"), authed(403, 403, 400, 403, 400)},

	{"list workspaces", "GET", "/api/v2/workspaces", at("/api/v2/workspaces", lit(""), ""), authed(200, 200, 200, 200, 200)},
	{"read my workspace", "GET", "/api/v2/workspaces/{workspace}", at(wsPath, myWS, ""), authed(200, 200, 200, 200, 200)},
	{"read their workspace", "GET", "/api/v2/workspaces/{workspace}", at(wsPath, theirWS, ""), authed(404, 404, 200, 404, 200)},
	{"read missing workspace", "GET", "/api/v2/workspaces/{workspace}", at(wsPath, lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"my builds", "GET", "/api/v2/workspaces/{workspace}/builds", at(wsPath, myWS, "/builds"), authed(200, 200, 200, 200, 200)},
	{"their builds", "GET", "/api/v2/workspaces/{workspace}/builds", at(wsPath, theirWS, "/builds"), authed(404, 404, 200, 404, 200)},
	{"build my workspace", "POST", "/api/v2/workspaces/{workspace}/builds", atWith(wsPath, myBuildWS, "/builds", stopBody), authed(201, 201, 201, 201, 201)},
	{"build their workspace", "POST", "/api/v2/workspaces/{workspace}/builds", atWith(wsPath, theirBuildWS, "/builds", stopBody), authed(404, 404, 403, 404, 201)},
	{"build a missing workspace", "POST", "/api/v2/workspaces/{workspace}/builds", atWith(wsPath, lit(missingID), "/builds", stopBody), authed(404, 404, 404, 404, 404)},
	// Autostop ttl: whoever may update the workspace (template admins
	// read every workspace but change none of others').
	{"set my workspace's ttl", "PUT", "/api/v2/workspaces/{workspace}/ttl", atWith(wsPath, myWS, "/ttl", ttlBody), authed(204, 204, 204, 204, 204)},
	{"set their workspace's ttl", "PUT", "/api/v2/workspaces/{workspace}/ttl", atWith(wsPath, theirWS, "/ttl", ttlBody), authed(404, 404, 403, 404, 204)},
	{"set a missing workspace's ttl", "PUT", "/api/v2/workspaces/{workspace}/ttl", atWith(wsPath, lit(missingID), "/ttl", ttlBody), authed(404, 404, 404, 404, 404)},
	// The fixture's workspaces run without autostop: who gets through is
	// told there is no stop to extend (409).
	{"extend my workspace", "PUT", "/api/v2/workspaces/{workspace}/extend", atWith(wsPath, myBuildWS, "/extend", extendBody), authed(409, 409, 409, 409, 409)},
	{"extend their workspace", "PUT", "/api/v2/workspaces/{workspace}/extend", atWith(wsPath, theirBuildWS, "/extend", extendBody), authed(404, 404, 403, 404, 409)},
	{"extend a missing workspace", "PUT", "/api/v2/workspaces/{workspace}/extend", atWith(wsPath, lit(missingID), "/extend", extendBody), authed(404, 404, 404, 404, 404)},

	{"read my build", "GET", "/api/v2/workspacebuilds/{workspacebuild}", at(buildsPath, myBuild, ""), authed(200, 200, 200, 200, 200)},
	{"read their build", "GET", "/api/v2/workspacebuilds/{workspacebuild}", at(buildsPath, theirBuild, ""), authed(404, 404, 200, 404, 200)},
	{"read missing build", "GET", "/api/v2/workspacebuilds/{workspacebuild}", at(buildsPath, lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"my build logs", "GET", "/api/v2/workspacebuilds/{workspacebuild}/logs", at(buildsPath, myBuild, "/logs"), authed(200, 200, 200, 200, 200)},
	{"their build logs", "GET", "/api/v2/workspacebuilds/{workspacebuild}/logs", at(buildsPath, theirBuild, "/logs"), authed(404, 404, 200, 404, 200)},
	{"my build parameters", "GET", "/api/v2/workspacebuilds/{workspacebuild}/parameters", at(buildsPath, myBuild, "/parameters"), authed(200, 200, 200, 200, 200)},
	{"their build parameters", "GET", "/api/v2/workspacebuilds/{workspacebuild}/parameters", at(buildsPath, theirBuild, "/parameters"), authed(404, 404, 200, 404, 200)},
	{"my build's state", "GET", "/api/v2/workspacebuilds/{workspacebuild}/state", at(buildsPath, myBuild, "/state"), authed(403, 403, 200, 403, 200)},
	{"their build's state", "GET", "/api/v2/workspacebuilds/{workspacebuild}/state", at(buildsPath, theirBuild, "/state"), authed(404, 404, 200, 404, 200)},
	{"replace my build's state", "PUT", "/api/v2/workspacebuilds/{workspacebuild}/state", atWith(buildsPath, myBuild, "/state", stateBody), authed(403, 403, 200, 403, 200)},
	{"replace their build's state", "PUT", "/api/v2/workspacebuilds/{workspacebuild}/state", atWith(buildsPath, theirBuild, "/state", stateBody), authed(404, 404, 200, 404, 200)},
	{"cancel my build", "PATCH", "/api/v2/workspacebuilds/{workspacebuild}/cancel", at(buildsPath, myPendingBuild, "/cancel"), authed(200, 200, 200, 200, 200)},
	{"cancel their build", "PATCH", "/api/v2/workspacebuilds/{workspacebuild}/cancel", at(buildsPath, theirPendingBuild, "/cancel"), authed(404, 404, 403, 404, 200)},
	{"cancel my finished build", "PATCH", "/api/v2/workspacebuilds/{workspacebuild}/cancel", at(buildsPath, myBuild, "/cancel"), authed(400, 400, 400, 400, 400)},

	{"create my workspace", "POST", "/api/v2/users/{user}/workspaces", atWith(usersPath, lit(codersdk.Me), "/workspaces", workspaceBody), authed(201, 201, 201, 201, 201)},
	{"create their workspace", "POST", "/api/v2/users/{user}/workspaces", atWith(usersPath, victimID, "/workspaces", workspaceBody), authed(404, 403, 403, 403, 201)},
	{"my workspace by name", "GET", "/api/v2/users/{user}/workspace/{workspacename}", at(usersPath+"me/workspace/", myWSName, ""), authed(200, 200, 200, 200, 200)},
	{"their workspace by name", "GET", "/api/v2/users/{user}/workspace/{workspacename}", at(usersPath, theirWSByName, ""), authed(404, 404, 200, 404, 200)},
	{"missing workspace by name", "GET", "/api/v2/users/{user}/workspace/{workspacename}", at(usersPath, lit("me/workspace/nosuch"), ""), authed(404, 404, 404, 404, 404)},

	{"my agent", "GET", "/api/v2/workspaceagents/{workspaceagent}", at(agentsPath, myAgent, ""), authed(200, 200, 200, 200, 200)},
	{"their agent", "GET", "/api/v2/workspaceagents/{workspaceagent}", at(agentsPath, theirAgent, ""), authed(404, 404, 200, 404, 200)},
	{"missing agent", "GET", "/api/v2/workspaceagents/{workspaceagent}", at(agentsPath, lit(missingID), ""), authed(404, 404, 404, 404, 404)},
	{"my agent connection", "GET", "/api/v2/workspaceagents/{workspaceagent}/connection", at(agentsPath, myAgent, "/connection"), authed(200, 200, 200, 200, 200)},
	{"their agent connection", "GET", "/api/v2/workspaceagents/{workspaceagent}/connection", at(agentsPath, theirAgent, "/connection"), authed(404, 404, 200, 404, 200)},
	{"my agent logs", "GET", "/api/v2/workspaceagents/{workspaceagent}/logs", at(agentsPath, myAgent, "/logs"), authed(200, 200, 200, 200, 200)},
	{"their agent logs", "GET", "/api/v2/workspaceagents/{workspaceagent}/logs", at(agentsPath, theirAgent, "/logs"), authed(404, 404, 200, 404, 200)},
	{"my agent ports", "GET", "/api/v2/workspaceagents/{workspaceagent}/listening-ports", at(agentsPath, myAgent, "/listening-ports"), authed(200, 200, 200, 200, 200)},
	{"their agent ports", "GET", "/api/v2/workspaceagents/{workspaceagent}/listening-ports", at(agentsPath, theirAgent, "/listening-ports"), authed(404, 404, 200, 404, 200)},
	{"coordinate with my agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/coordinate", dial(agentsPath, myAgent, "/coordinate"), authed(101, 101, 101, 101, 101)},
	{"coordinate with their agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/coordinate", dial(agentsPath, theirAgent, "/coordinate"), authed(404, 404, 403, 404, 101)},
	{"coordinate with a missing agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/coordinate", dial(agentsPath, lit(missingID), "/coordinate"), authed(404, 404, 404, 404, 404)},
	// The terminal and ping are authorized like coordinate; the fixture's
	// agents never connect, so callers who get through are told so (409).
	{"terminal on my agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/pty", at(agentsPath, myAgent, ptyQuery), authed(409, 409, 409, 409, 409)},
	{"terminal on their agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/pty", at(agentsPath, theirAgent, ptyQuery), authed(404, 404, 403, 404, 409)},
	{"terminal on a missing agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/pty", at(agentsPath, lit(missingID), ptyQuery), authed(404, 404, 404, 404, 404)},
	{"ping my agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/ping", at(agentsPath, myAgent, "/ping"), authed(409, 409, 409, 409, 409)},
	{"ping their agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/ping", at(agentsPath, theirAgent, "/ping"), authed(404, 404, 403, 404, 409)},
	{"ping a missing agent", "GET", "/api/v2/workspaceagents/{workspaceagent}/ping", at(agentsPath, lit(missingID), "/ping"), authed(404, 404, 404, 404, 404)},
	{"watch my agent's metadata", "GET", "/api/v2/workspaceagents/{workspaceagent}/watch-metadata", stream(agentsPath, myAgent, "/watch-metadata"), authed(200, 200, 200, 200, 200)},
	{"watch their agent's metadata", "GET", "/api/v2/workspaceagents/{workspaceagent}/watch-metadata", stream(agentsPath, theirAgent, "/watch-metadata"), authed(404, 404, 200, 404, 200)},
	{"watch a missing agent's metadata", "GET", "/api/v2/workspaceagents/{workspaceagent}/watch-metadata", stream(agentsPath, lit(missingID), "/watch-metadata"), authed(404, 404, 404, 404, 404)},
}

// ptyQuery is a valid web terminal query.
const ptyQuery = "/pty?reconnect=6f1d1a5e-0a4b-4d5c-9a7e-2b3c4d5e6f70&width=80&height=24"

// notFoundMessage is every "hidden or missing" answer, word for word, so
// the two cannot be told apart.
const notFoundMessage = "Resource not found or you do not have access to this resource."

func TestAuthzProvisioningMatrix(t *testing.T) {
	t.Parallel()
	f := newProvFixture(t)
	t.Run("matrix", func(t *testing.T) {
		for _, row := range provisioningMatrix {
			t.Run(row.name, func(t *testing.T) {
				t.Parallel()
				for _, c := range allCallers {
					want, ok := row.want[c]
					require.True(t, ok, "row %q has no expectation for %s", row.name, c)
					t.Run(string(c), func(t *testing.T) {
						t.Parallel()
						ctx := testutil.Context(t, time.Minute)
						r := row.req(f, c)
						if r.tar != nil {
							r.body = testutil.Tar(t, r.tar)
						}
						token := f.token(ctx, t, c)
						var res rawResponse
						switch {
						case r.websocket:
							res = dialWS(ctx, t, f.srv, r.path, token)
						case r.stream:
							res = callStream(ctx, t, f.srv, row.method, r.path, token)
						default:
							res = call(ctx, t, f.srv, row.method, r.path, token, r.body, r.opts...)
						}
						require.Equal(t, want, res.status, "%s %s as %s: %s", row.method, r.path, c, res.body)
						if res.status < 400 {
							return
						}
						msg := res.response(t).Message
						require.NotEmpty(t, msg, "error answers carry a message")
						if res.status == 404 {
							require.Equal(t, notFoundMessage, msg, "hidden and missing objects answer alike")
						}
					})
				}
			})
		}
	})

	// Lists show exactly what a caller may read.
	t.Run("lists", func(t *testing.T) {
		ctx := testutil.Context(t, time.Minute)
		canSeeTheirs := map[caller]bool{templateAdmin: true, owner: true}
		for _, c := range roleCallers {
			cl := f.clientAs(ctx, t, f.users[c])
			list, err := cl.Workspaces(ctx, codersdk.WorkspaceFilter{})
			require.NoError(t, err)
			var sawMine, sawTheirs bool
			for _, ws := range list.Workspaces {
				sawMine = sawMine || ws.ID == f.mine(c).ws.ID
				sawTheirs = sawTheirs || ws.ID == f.theirs.ws.ID
				if !canSeeTheirs[c] {
					require.Equal(t, f.users[c].ID, ws.OwnerID, "%s lists another's workspace %s", c, ws.Name)
				}
			}
			require.True(t, sawMine, "%s does not list their own workspace", c)
			require.Equal(t, canSeeTheirs[c], sawTheirs, "%s listing the victim's workspace", c)

			tmpls, err := cl.Templates(ctx, f.otherOrg)
			if c == member {
				requireStatus(t, err, http.StatusNotFound)
				continue
			}
			require.NoError(t, err)
			require.Equal(t, c != userAdmin, len(tmpls) == 1, "%s listing the other organization's templates: %v", c, tmpls)
		}
	})
}
