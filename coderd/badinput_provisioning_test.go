package coderd_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// badParams are the bad-input template's parameters: free text, a bounded
// number and an immutable choice.
var badParams = []codersdk.TemplateVersionParameter{
	{Name: "note", Type: "string", Mutable: true},
	{Name: "cpus", Type: "number", DefaultValue: "2", Mutable: true, ValidationMin: int32p(1), ValidationMax: int32p(8)},
	{Name: "region", Type: "string", DefaultValue: "eu", Options: []codersdk.TemplateVersionParameterOption{{Name: "EU", Value: "eu"}, {Name: "US", Value: "us"}}},
}

// badFixture is a deployment with one of everything the write routes act
// on, built before the barrage; snapshot proves the barrage changed none
// of it.
type badFixture struct {
	srv      *coderdtest.Server
	owner    *codersdk.Client
	org      uuid.UUID
	file     uuid.UUID
	fileData []byte
	tmpl     codersdk.Template
	version  uuid.UUID // tmpl's active version
	loose    uuid.UUID // imported, in no template
	pending  uuid.UUID // a queued import of tmpl
	archived uuid.UUID // an archived version of tmpl
	ws       codersdk.Workspace
	agent    uuid.UUID
	token    string                // ws's agent token
	jobs     map[string]runningJob // "update", "complete", "fail": running imports
}

func newBadFixture(t *testing.T) *badFixture {
	t.Helper()
	// The fixture's running jobs get no heartbeats while the barrage runs,
	// which takes long on a loaded machine: the reaper must not end them.
	owner, daemon, org, srv := setupQueue(t, &coderdtest.Options{HeartbeatTimeout: time.Hour})
	ctx := testutil.Context(t, time.Minute)
	f := &badFixture{srv: srv, owner: owner, org: org, token: uuid.NewString(), jobs: map[string]runningJob{},
		fileData: testutil.Tar(t, map[string]string{"main.tf": "terraform {}"})}
	up, err := owner.Upload(ctx, codersdk.ContentTypeTar, bytes.NewReader(f.fileData))
	require.NoError(t, err)
	f.file = up.ID
	newVersion := func(template uuid.UUID) codersdk.TemplateVersion {
		v, err := owner.CreateTemplateVersion(ctx, org, codersdk.CreateTemplateVersionRequest{StorageMethod: "file", Provisioner: "terraform", FileID: f.file, TemplateID: template})
		require.NoError(t, err)
		return v
	}
	v := newVersion(uuid.Nil)
	require.Equal(t, v.Job.ID, coderdtest.CompleteImport(t, daemon, badParams))
	f.version = v.ID
	f.tmpl, err = owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "docker", VersionID: v.ID})
	require.NoError(t, err)
	v = newVersion(uuid.Nil)
	require.Equal(t, v.Job.ID, coderdtest.CompleteImport(t, daemon, badParams))
	f.loose = v.ID

	f.ws, err = owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: f.tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, f.ws.LatestBuild.ID, f.token)
	f.ws, err = owner.Workspace(ctx, f.ws.ID)
	require.NoError(t, err)
	f.agent = f.ws.LatestBuild.Resources[0].Agents[0].ID

	for _, name := range []string{"update", "complete", "fail"} {
		v := newVersion(uuid.Nil)
		d := uuid.New()
		require.Equal(t, v.Job.ID, coderdtest.AcquireJob(t, daemon, d, nil).JobID)
		f.jobs[name] = runningJob{version: v.ID, job: v.Job.ID, daemon: d}
	}
	// Queued last: nothing acquires after this.
	f.pending = newVersion(f.tmpl.ID).ID
	f.archived = newVersion(f.tmpl.ID).ID
	require.NoError(t, owner.CancelTemplateVersion(ctx, f.archived))
	require.NoError(t, owner.ArchiveTemplateVersion(ctx, f.archived))
	_, err = owner.CreateProvisionerKey(ctx, org, codersdk.CreateProvisionerKeyRequest{Name: "fleet"})
	require.NoError(t, err)
	return f
}

// snapshot is what the barrage must leave as it was.
func (f *badFixture) snapshot(ctx context.Context, t *testing.T) []any {
	t.Helper()
	var out []any
	add := func(v any, err error) {
		t.Helper()
		require.NoError(t, err)
		out = append(out, v)
	}
	tmpls, err := f.owner.Templates(ctx, f.org)
	for i := range tmpls {
		tmpls[i].UpdatedAt = time.Time{}
	}
	add(tmpls, err)
	res, err := f.owner.Request(ctx, "GET", "/api/v2/templates/"+f.tmpl.ID.String()+"/versions?include_archived=true", nil)
	require.NoError(t, err)
	add(readAll(t, res), nil)
	for _, id := range []uuid.UUID{f.loose, f.pending, f.jobs["update"].version, f.jobs["complete"].version, f.jobs["fail"].version} {
		v, err := f.owner.TemplateVersion(ctx, id)
		add([]any{v.Job.Status, v.Job.Error, v.TemplateID, v.Archived, v.Name}, err)
		res, err := f.owner.Request(ctx, "GET", "/api/v2/templateversions/"+id.String()+"/logs", nil)
		require.NoError(t, err)
		add(readAll(t, res), nil)
	}
	wss, err := f.owner.Workspaces(ctx, codersdk.WorkspaceFilter{})
	add(len(wss.Workspaces), err)
	builds, err := f.owner.WorkspaceBuilds(ctx, f.ws.ID)
	add(len(builds), err)
	params, err := f.owner.WorkspaceBuildParameters(ctx, f.ws.LatestBuild.ID)
	add(params, err)
	keys, err := f.owner.ProvisionerKeys(ctx, f.org)
	for i := range keys {
		keys[i].CreatedAt = time.Time{}
	}
	add(keys, err)
	a, err := f.owner.WorkspaceAgent(ctx, f.agent)
	add([]any{a.LifecycleState, a.Version, a.Directory}, err)
	logs, err := f.owner.WorkspaceAgentLogs(ctx, f.agent, 0)
	add(logs, err)
	ports, err := f.owner.WorkspaceAgentListeningPorts(ctx, f.agent)
	add(ports, err)
	data, _, err := f.owner.Download(ctx, f.file)
	add(bytes.Equal(data, f.fileData), err)
	return out
}

func readAll(t *testing.T, res *http.Response) string {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", b)
	return string(b)
}

// paramCases apply to rich parameter values (of badParams).
func paramCases() []badCase {
	p := func(kv ...string) []obj {
		var out []obj
		for i := 0; i < len(kv); i += 2 {
			out = append(out, obj{"name": kv[i], "value": kv[i+1]})
		}
		return out
	}
	const f = "rich_parameter_values"
	return []badCase{
		{name: "parameters not a list", body: set(f, "cpus=4"), want: 400, field: f},
		{name: "parameter value a number", body: set(f, []obj{{"name": "cpus", "value": 4}}), want: 400, field: f + ".value"},
		{name: "parameter unknown field", body: set(f, []obj{{"name": "cpus", "value": "4", "admin": true}}), want: 400, field: "admin"},
		{name: "unknown parameter", body: set(f, p("nope", "x")), want: 400, field: f + "[0](nope)"},
		{name: "parameter name NUL", body: set(f, p("cpus\x00", "4")), want: 400, field: f + "[0](cpus\x00)"},
		{name: "parameter name SQL", body: set(f, p("'; DROP TABLE workspaces;--", "4")), want: 400, field: f + "[0]('; DROP TABLE workspaces;--)"},
		{name: "duplicate parameter", body: set(f, p("cpus", "4", "cpus", "5")), want: 400, field: f + "[1](cpus)"},
		{name: "not a number", body: set(f, p("cpus", "many")), want: 400, field: f + "[0](cpus)"},
		{name: "NaN", body: set(f, p("cpus", "NaN")), want: 400, field: f + "[0](cpus)"},
		{name: "infinite", body: set(f, p("cpus", "1e999")), want: 400, field: f + "[0](cpus)"},
		{name: "above max", body: set(f, p("cpus", "9")), want: 400, field: f + "[0](cpus)"},
		{name: "not an option", body: set(f, p("region", "mars")), want: 400, field: f + "[0](region)"},
		{name: "value over 64 KiB", body: set(f, p("note", strings.Repeat("n", 64<<10+1))), want: 400, field: f + "[0](note)"},
		{name: "value NUL", body: set(f, p("note", "a\x00b")), want: 400, field: f + "[0](note)"},
	}
}

// jsonRoutes are the provisioning write routes with JSON bodies, with a
// body that would succeed and the bad variants of it.
func (f *badFixture) jsonRoutes() []badRoute {
	owner := f.owner.SessionToken()
	psk := []codersdk.RequestOption{codersdk.WithHeader(codersdk.ProvisionerDaemonPSKHeader, coderdtest.TestPSK)}
	orgPath := "/api/v2/organizations/" + f.org.String()
	job := func(name string) string {
		return "/api/v2/provisionerdaemons/jobs/" + f.jobs[name].job.String() + "/" + name
	}
	cat := func(lists ...[]badCase) []badCase { return slices.Concat(lists...) }
	return []badRoute{
		{"create version", "POST", orgPath + "/templateversions", owner, nil,
			obj{"storage_method": "file", "provisioner": "terraform", "file_id": f.file, "template_id": f.tmpl.ID},
			cat(genericBadCases("storage_method"), textCases("name", 64), textCases("message", 1024), tagCases("tags"), []badCase{
				{name: "storage method s3", body: set("storage_method", "s3"), want: 400, field: "storage_method"},
				{name: "provisioner echo", body: set("provisioner", "echo"), want: 400, field: "provisioner"},
				{name: "provisioner a list", body: set("provisioner", []string{"terraform"}), want: 400, field: "provisioner"},
				{name: "file missing", body: drop("file_id"), want: 400, field: "file_id"},
				{name: "file not a UUID", body: set("file_id", "main.tf"), want: 400},
				{name: "file a number", body: set("file_id", 1), want: 400, field: "file_id"},
				{name: "unknown file", body: set("file_id", uuid.New()), want: 400, field: "file_id"},
				{name: "unknown template", body: set("template_id", uuid.New()), want: 400, field: "template_id"},
				{name: "template not a UUID", body: set("template_id", "docker"), want: 400},
				{name: "file and example", body: set("example_id", "docker"), want: 400, field: "example_id"},
				{name: "unknown example", body: func(t *testing.T, o obj) []byte { return o.without("file_id").with("example_id", "nope").raw(t) }, want: 400, field: "example_id"},
				{name: "example a number", body: func(t *testing.T, o obj) []byte { return o.without("file_id").with("example_id", 7).raw(t) }, want: 400, field: "example_id"},
				{name: "variable name empty", body: set("user_variable_values", []obj{{"name": "", "value": "x"}}), want: 400, field: "user_variable_values[0].name"},
				{name: "variable name not an identifier", body: set("user_variable_values", []obj{{"name": "a", "value": "1"}, {"name": "1st zone", "value": "x"}}), want: 400, field: "user_variable_values[1].name"},
				{name: "variable name injection", body: set("user_variable_values", []obj{{"name": "a=b\nc", "value": "x"}}), want: 400, field: "user_variable_values[0].name"},
				{name: "variable given twice", body: set("user_variable_values", []obj{{"name": "region", "value": "eu"}, {"name": "region", "value": "us"}}), want: 400, field: "user_variable_values[1].name"},
				{name: "variable value NUL", body: set("user_variable_values", []obj{{"name": "region", "value": "e\u0000u"}}), want: 400},
				{name: "variable value too long", body: set("user_variable_values", []obj{{"name": "region", "value": strings.Repeat("x", 65<<10)}}), want: 400, field: "user_variable_values[0].value"},
				{name: "variables not a list", body: set("user_variable_values", obj{"region": "eu"}), want: 400},
			})},
		{"create template", "POST", orgPath + "/templates", owner, nil,
			obj{"name": "fresh", "template_version_id": f.loose},
			cat(genericBadCases("name"), nameCases("name"), textCases("display_name", 64), textCases("description", 1024), textCases("icon", 256), []badCase{
				{name: "version missing", body: drop("template_version_id"), want: 400, field: "template_version_id"},
				{name: "version not a UUID", body: set("template_version_id", "latest"), want: 400},
				{name: "unknown version", body: set("template_version_id", uuid.New()), want: 400, field: "template_version_id"},
				{name: "version of another template", body: set("template_version_id", f.version), want: 400, field: "template_version_id"},
				{name: "version still importing", body: set("template_version_id", f.jobs["update"].version), want: 400, field: "template_version_id"},
				{name: "duplicate name", body: set("name", f.tmpl.Name), want: 409, field: "name"},
			})},
		{"promote version", "PATCH", "/api/v2/templates/" + f.tmpl.ID.String() + "/versions", owner, nil,
			obj{"id": f.version},
			cat(genericBadCases("id"), []badCase{
				{name: "id missing", body: drop("id"), want: 400, field: "id"},
				{name: "id a number", body: set("id", 1), want: 400, field: "id"},
				{name: "unknown version", body: set("id", uuid.New()), want: 400, field: "id"},
				{name: "version in no template", body: set("id", f.loose), want: 400, field: "id"},
				{name: "version still importing", body: set("id", f.pending), want: 400, field: "id"},
				{name: "archived version", body: set("id", f.archived), want: 400, field: "id"},
			})},
		{"create workspace", "POST", "/api/v2/users/me/workspaces", owner, nil,
			obj{"template_id": f.tmpl.ID, "name": "fresh"},
			cat(genericBadCases("name"), nameCases("name"), paramCases(), []badCase{
				{name: "no template", body: drop("template_id"), want: 400, field: "template_id"},
				{name: "unknown template", body: set("template_id", uuid.New()), want: 400, field: "template_id"},
				{name: "template not a UUID", body: set("template_id", "docker"), want: 400},
				{name: "unknown version", body: set("template_version_id", uuid.New()), want: 400, field: "template_id"},
				{name: "version in no template", body: set("template_version_id", f.loose), want: 400, field: "template_id"},
				{name: "version still importing", body: set("template_version_id", f.pending), want: 400, field: "template_version_id"},
				{name: "duplicate name", body: set("name", f.ws.Name), want: 409, field: "name"},
			})},
		{"build workspace", "POST", "/api/v2/workspaces/" + f.ws.ID.String() + "/builds", owner, nil,
			obj{"transition": "stop"},
			cat(genericBadCases("transition"), paramCases(), []badCase{
				{name: "transition missing", body: drop("transition"), want: 400, field: "transition"},
				{name: "transition unknown", body: set("transition", "explode"), want: 400, field: "transition"},
				{name: "transition a number", body: set("transition", 1), want: 400, field: "transition"},
				{name: "transition SQL", body: set("transition", "stop'; --"), want: 400, field: "transition"},
				{name: "orphan a start", body: func(t *testing.T, o obj) []byte { return o.with("transition", "start").with("orphan", true).raw(t) }, want: 400, field: "orphan"},
				{name: "orphan a string", body: set("orphan", "yes"), want: 400, field: "orphan"},
				{name: "reason unknown", body: set("reason", "autostart"), want: 400, field: "reason"},
				{name: "unknown version", body: set("template_version_id", uuid.New()), want: 400, field: "template_version_id"},
				{name: "version in no template", body: set("template_version_id", f.loose), want: 400, field: "template_version_id"},
				{name: "version still importing", body: set("template_version_id", f.pending), want: 400, field: "template_version_id"},
				{name: "immutable parameter changed", body: set("rich_parameter_values", []obj{{"name": "region", "value": "us"}}), want: 400, field: "rich_parameter_values[0](region)"},
			})},
		{"create provisioner key", "POST", orgPath + "/provisionerkeys", owner, nil,
			obj{"name": "fresh"},
			cat(genericBadCases("name"), nameCases("name"), tagCases("tags"), []badCase{
				{name: "duplicate name", body: set("name", "fleet"), want: 409, field: "name"},
			})},
		{"acquire job", "POST", "/api/v2/provisionerdaemons/jobs/acquire", "", psk,
			obj{"daemon_id": uuid.New(), "wait_seconds": 0},
			cat(genericBadCases("daemon_id"), textCases("name", 128), textCases("version", 64), tagCases("tags"), []badCase{
				{name: "daemon missing", body: drop("daemon_id"), want: 400, field: "daemon_id"},
				{name: "wait negative", body: set("wait_seconds", -1), want: 400, field: "wait_seconds"},
				{name: "wait too long", body: set("wait_seconds", 301), want: 400, field: "wait_seconds"},
				{name: "wait a string", body: set("wait_seconds", "10s"), want: 400, field: "wait_seconds"},
				{name: "wait a float", body: set("wait_seconds", 1.5), want: 400, field: "wait_seconds"},
				{name: "wait overflows", body: set("wait_seconds", 1e40), want: 400, field: "wait_seconds"},
				{name: "provisioner echo", body: set("provisioners", []string{"echo"}), want: 400, field: "provisioners[0]"},
				{name: "provisioners a string", body: set("provisioners", "terraform"), want: 400, field: "provisioners"},
			})},
		{"update job", "POST", job("update"), "", psk,
			obj{"daemon_id": f.jobs["update"].daemon},
			cat(genericBadCases("daemon_id"), []badCase{
				{name: "daemon missing", body: drop("daemon_id"), want: 400, field: "daemon_id"},
				{name: "another daemon", body: set("daemon_id", uuid.New()), want: 409},
				{name: "logs not a list", body: set("logs", "hello"), want: 400, field: "logs"},
				{name: "log level unknown", body: set("logs", []obj{{"level": "loud", "output": "x"}}), want: 400, field: "logs[0].level"},
				{name: "log time not a time", body: set("logs", []obj{{"created_at": "yesterday", "output": "x"}}), want: 400},
				{name: "log output a number", body: set("logs", []obj{{"output": 1}}), want: 400, field: "logs.output"},
				{name: "too many logs", body: set("logs", slices.Repeat([]obj{{"output": "x"}}, 10001)), want: 400, field: "logs"},
			})},
		{"complete job", "POST", job("complete"), "", psk,
			obj{"daemon_id": f.jobs["complete"].daemon, "template_import": obj{}},
			cat(genericBadCases("daemon_id"), []badCase{
				{name: "daemon missing", body: drop("daemon_id"), want: 400, field: "daemon_id"},
				{name: "another daemon", body: set("daemon_id", uuid.New()), want: 409},
				{name: "no result", body: drop("template_import"), want: 400},
				{name: "a build's result", body: func(t *testing.T, o obj) []byte {
					return o.without("template_import").with("workspace_build", obj{}).raw(t)
				}, want: 400},
				{name: "result not an object", body: set("template_import", "done"), want: 400, field: "template_import"},
				{name: "parameters not a list", body: set("template_import", obj{"rich_parameters": "x"}), want: 400, field: "template_import.rich_parameters"},
				{name: "parameter name NUL", body: set("template_import", obj{"rich_parameters": []obj{{"name": "a\x00", "type": "string"}}}), want: 400, field: "template_import"},
				{name: "readme NUL", body: set("template_import", obj{"readme": "# a\x00"}), want: 400, field: "template_import"},
				{name: "resource name NUL", body: set("template_import", obj{"start_resources": []obj{{"name": "a\x00", "type": "x"}}}), want: 400, field: "template_import"},
				{name: "agent name NUL", body: set("template_import", obj{"start_resources": []obj{{"name": "a", "type": "x", "agents": []obj{{"name": "\x00"}}}}}), want: 400, field: "template_import"},
				{name: "env value NUL", body: set("template_import", obj{"start_resources": []obj{{"name": "a", "type": "x", "agents": []obj{{"name": "main", "environment_variables": obj{"A": "\x00"}}}}}}), want: 400, field: "template_import"},
				{name: "env name NUL", body: set("template_import", obj{"start_resources": []obj{{"name": "a", "type": "x", "agents": []obj{{"name": "main", "environment_variables": obj{"\x00": "a"}}}}}}), want: 400, field: "template_import"},
				{name: "resource cost a string", body: set("template_import", obj{"start_resources": []obj{{"name": "a", "daily_cost": "1"}}}), want: 400, field: "template_import.start_resources.daily_cost"},
			})},
		{"fail job", "POST", job("fail"), "", psk,
			obj{"daemon_id": f.jobs["fail"].daemon, "error": "boom"},
			cat(genericBadCases("daemon_id"), []badCase{
				{name: "daemon missing", body: drop("daemon_id"), want: 400, field: "daemon_id"},
				{name: "another daemon", body: set("daemon_id", uuid.New()), want: 409},
				{name: "error a number", body: set("error", 1), want: 400, field: "error"},
				{name: "state not base64", body: set("state", "{}"), want: 400},
			})},
		{"report lifecycle", "POST", "/api/v2/workspaceagents/me/report-lifecycle", f.token, nil,
			obj{"state": "ready"},
			cat(genericBadCases("state"), []badCase{
				{name: "state missing", body: drop("state"), want: 400, field: "state"},
				{name: "state unknown", body: set("state", "exploded"), want: 400, field: "state"},
				{name: "state a number", body: set("state", 3), want: 400, field: "state"},
				{name: "time not a time", body: set("changed_at", "soon"), want: 400},
			})},
		{"report startup", "POST", "/api/v2/workspaceagents/me/startup", f.token, nil,
			obj{"version": "v2.0.0", "expanded_directory": "/home/coder"},
			cat(genericBadCases("subsystems"), textCases("version", 64), textCases("expanded_directory", 4096), []badCase{
				{name: "17 subsystems", body: set("subsystems", slices.Repeat([]string{"envbox"}, 17)), want: 400, field: "subsystems"},
				{name: "subsystem a number", body: set("subsystems", []any{1}), want: 400, field: "subsystems"},
				{name: "subsystem NUL", body: set("subsystems", []string{"a\x00"}), want: 400, field: "subsystems[0]"},
				{name: "subsystem 10k chars", body: set("subsystems", []string{strings.Repeat("s", 10000)}), want: 400, field: "subsystems[0]"},
			})},
		{"append agent logs", "PATCH", "/api/v2/workspaceagents/me/logs", f.token, nil,
			obj{"logs": []obj{{"output": "hello"}}},
			cat(genericBadCases("logs"), []badCase{
				{name: "1001 lines", body: set("logs", slices.Repeat([]obj{{"output": "x"}}, 1001)), want: 400, field: "logs"},
				{name: "output a number", body: set("logs", []obj{{"output": 1}}), want: 400, field: "logs.output"},
				{name: "time not a time", body: set("logs", []obj{{"output": "x", "created_at": "later"}}), want: 400},
			})},
		{"report stats", "POST", "/api/v2/workspaceagents/me/report-stats", f.token, nil,
			obj{"connection_count": 1},
			cat(genericBadCases("connection_count"), []badCase{
				{name: "count a string", body: set("connection_count", "1"), want: 400, field: "connection_count"},
				{name: "bytes overflow", body: set("rx_bytes", 1e30), want: 400, field: "rx_bytes"},
				{name: "sessions not a map", body: set("session_count_by_type", []int{1}), want: 400, field: "session_count_by_type"},
				{name: "session type NUL", body: set("session_count_by_type", obj{"ssh\x00": 1}), want: 400, field: "session_count_by_type"},
			})},
		{"report listening ports", "POST", "/api/v2/workspaceagents/me/listening-ports", f.token, nil,
			obj{"ports": []obj{{"process_name": "sshd", "network": "tcp", "port": 22}}},
			cat(genericBadCases("ports"), []badCase{
				{name: "port too big", body: set("ports", []obj{{"port": 70000}}), want: 400, field: "ports.port"},
				{name: "port negative", body: set("ports", []obj{{"port": -1}}), want: 400, field: "ports.port"},
				{name: "port a string", body: set("ports", []obj{{"port": "22"}}), want: 400, field: "ports.port"},
			})},
		{"report app health", "POST", "/api/v2/workspaceagents/me/app-health", f.token, nil,
			obj{"healths": obj{}},
			cat(genericBadCases("healths"), []badCase{
				{name: "healths missing", body: drop("healths"), want: 400, field: "healths"},
				{name: "healths a list", body: set("healths", []string{"main"}), want: 400, field: "healths"},
				{name: "health a number", body: set("healths", obj{"main": 1}), want: 400, field: "healths"},
				{name: "unknown app", body: set("healths", obj{"nope": "healthy"}), want: 400, field: "healths.nope"},
				{name: "app slug NUL", body: set("healths", obj{"a\x00": "healthy"}), want: 400, field: "healths.a\uFFFD"},
				{name: "257 apps", body: set("healths", manyAppHealths(257)), want: 400, field: "healths"},
			})},
	}
}

// manyAppHealths is an app health report naming n apps.
func manyAppHealths(n int) obj {
	o := obj{}
	for i := range n {
		o[fmt.Sprintf("app%d", i)] = "healthy"
	}
	return o
}

// badRoute is one JSON write route under the barrage.
type badRoute struct {
	name, method, path string
	token              string
	opts               []codersdk.RequestOption
	valid              obj
	cases              []badCase
}

// uploadCase is one bad template upload.
type uploadCase struct {
	name, contentType string
	body              []byte
	want              int
}

func uploadCases(t *testing.T) []uploadCase {
	good := testutil.Tar(t, map[string]string{"main.tf": "terraform {}"})
	long := testutil.Tar(t, map[string]string{"main.tf": strings.Repeat("#", 4096)})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(good)
	require.NoError(t, zw.Close())
	reg := func(name string) *tar.Header { return &tar.Header{Name: name, Mode: 0o644, Typeflag: tar.TypeReg} }
	many := make([]*tar.Header, 10001)
	for i := range many {
		many[i] = reg(fmt.Sprintf("f%d", i))
	}
	tarType := codersdk.ContentTypeTar
	return []uploadCase{
		{"zip content type", "application/zip", good, 415},
		{"JSON content type", "application/json", good, 415},
		{"no content type", "", good, 415},
		{"empty body", tarType, nil, 400},
		{"not a tar", tarType, []byte("hello, this is not a tar archive at all"), 400},
		{"JSON", tarType, []byte(`{"main.tf":"terraform {}"}`), 400},
		{"gzipped tar", tarType, gz.Bytes(), 400},
		{"tar cut inside a file", tarType, long[:2048], 400},
		{"only the end marker", tarType, make([]byte, 1024), 400},
		{"dot-dot entry", tarType, testutil.TarHeaders(t, reg("../evil.tf")), 400},
		{"nested dot-dot entry", tarType, testutil.TarHeaders(t, reg("a/../../evil.tf")), 400},
		{"dot-dot directory", tarType, testutil.TarHeaders(t, &tar.Header{Name: "../", Typeflag: tar.TypeDir, Mode: 0o755}), 400},
		{"absolute entry", tarType, testutil.TarHeaders(t, reg("/etc/cron.d/evil")), 400},
		{"windows absolute entry", tarType, testutil.TarHeaders(t, reg(`C:\evil.tf`)), 400},
		{"backslash-rooted entry", tarType, testutil.TarHeaders(t, reg(`\evil.tf`)), 400},
		{"symlink out of the template", tarType, testutil.TarHeaders(t, reg("main.tf"), &tar.Header{Name: "link", Linkname: "../../etc/passwd", Typeflag: tar.TypeSymlink}), 400},
		{"symlink escaping from a subdirectory", tarType, testutil.TarHeaders(t, &tar.Header{Name: "a/b/link", Linkname: "../../../x", Typeflag: tar.TypeSymlink}), 400},
		{"absolute symlink", tarType, testutil.TarHeaders(t, &tar.Header{Name: "link", Linkname: "/etc/passwd", Typeflag: tar.TypeSymlink}), 400},
		{"hard link out of the template", tarType, testutil.TarHeaders(t, &tar.Header{Name: "link", Linkname: "../outside", Typeflag: tar.TypeLink}), 400},
		{"device file", tarType, testutil.TarHeaders(t, &tar.Header{Name: "dev", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}), 400},
		{"fifo", tarType, testutil.TarHeaders(t, &tar.Header{Name: "fifo", Typeflag: tar.TypeFifo}), 400},
		{"10001 entries", tarType, testutil.TarHeaders(t, many...), 400},
		{"over the size limit", tarType, testutil.TarHeaders(t, &tar.Header{Name: "big", Mode: 0o644, Size: 10 << 20, Typeflag: tar.TypeReg}), 413},
	}
}

func TestBadInputProvisioning(t *testing.T) {
	t.Parallel()
	f := newBadFixture(t)
	ctx := testutil.Context(t, 3*time.Minute)
	before := f.snapshot(ctx, t)
	owner := f.owner.SessionToken()

	t.Run("uploads", func(t *testing.T) {
		for _, c := range uploadCases(t) {
			t.Run(c.name, func(t *testing.T) {
				res := call(ctx, t, f.srv, "POST", "/api/v2/files", owner, c.body, codersdk.WithHeader("Content-Type", c.contentType))
				requireClientError(t, res, c.want, "")
			})
		}
	})
	for _, route := range f.jsonRoutes() {
		t.Run(route.name, func(t *testing.T) {
			for _, c := range route.cases {
				t.Run(c.name, func(t *testing.T) {
					opts := slices.Clone(route.opts)
					if c.contentType != "" {
						opts = append(opts, codersdk.WithHeader("Content-Type", c.contentType))
					}
					res := call(ctx, t, f.srv, route.method, route.path, route.token, c.body(t, route.valid), opts...)
					requireClientError(t, res, c.want, c.field)
				})
			}
		})
	}
	// Routes that take no body ignore one, whatever it is: the answer is
	// the one they give without.
	t.Run("bodyless", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"PATCH", "/api/v2/templateversions/" + f.version.String() + "/cancel"},
			{"POST", "/api/v2/templateversions/" + f.version.String() + "/archive"},
			{"PATCH", "/api/v2/workspacebuilds/" + f.ws.LatestBuild.ID.String() + "/cancel"},
			{"DELETE", "/api/v2/templates/" + f.tmpl.ID.String()},
			{"DELETE", "/api/v2/organizations/" + f.org.String() + "/provisionerkeys/nosuch"},
		} {
			plain := call(ctx, t, f.srv, r.method, r.path, owner, nil)
			requireClientError(t, plain, 0, "")
			for _, body := range []string{"", "{", `{"id":"` + uuid.NewString() + `"}`, "\x00\xff", strings.Repeat("x", 2*httpapi.MaxBodyBytes)} {
				res := call(ctx, t, f.srv, r.method, r.path, owner, []byte(body))
				require.Equal(t, plain.status, res.status, "%s %s with %.20q: %s", r.method, r.path, body, res.body)
				require.Equal(t, plain.body, res.body)
			}
		}
	})

	// Malformed query parameters and path segments on the provisioning
	// routes are answered 4xx too.
	t.Run("query and path", func(t *testing.T) {
		v, b, a, o := f.version.String(), f.ws.LatestBuild.ID.String(), f.agent.String(), f.org.String()
		long := strings.Repeat("n", 5000)
		for _, c := range []struct {
			method, path string
			want         int
			field        string
		}{
			{"GET", "/api/v2/templateversions/" + v + "/logs?after=x", 400, "after"},
			{"GET", "/api/v2/templateversions/" + v + "/logs?after=-1", 400, "after"},
			{"GET", "/api/v2/templateversions/" + v + "/logs?after=99999999999999999999", 400, "after"},
			{"GET", "/api/v2/workspacebuilds/" + b + "/logs?after=1.5", 400, "after"},
			{"GET", "/api/v2/workspaceagents/" + a + "/logs?after=x", 400, "after"},
			{"GET", "/api/v2/workspaceagents/" + a + "/logs?after=-1", 400, "after"},
			{"GET", "/api/v2/workspaces?q=bogus:x", 400, "q"},
			{"GET", "/api/v2/workspaces?q=%00", 400, "q"},
			{"GET", "/api/v2/workspaces?q=owner:%ff", 400, "q"},
			{"GET", "/api/v2/templates/%00", 400, ""},
			{"GET", "/api/v2/templates/%ff", 400, ""},
			{"GET", "/api/v2/templates/docker", 404, ""},
			{"GET", "/api/v2/templateversions/" + long, 404, ""},
			{"GET", "/api/v2/workspaces/'%3B%20DROP%20TABLE%20workspaces%3B--", 404, ""},
			{"GET", "/api/v2/workspacebuilds/1", 404, ""},
			{"GET", "/api/v2/workspaceagents/me", 401, ""}, // the agents' own routes
			{"GET", "/api/v2/files/..%2F..%2Fetc%2Fpasswd", 404, ""},
			{"GET", "/api/v2/organizations/" + o + "/templates/%00", 400, ""},
			{"GET", "/api/v2/organizations/" + o + "/templates/" + long, 404, ""},
			{"DELETE", "/api/v2/organizations/" + o + "/provisionerkeys/%ff", 400, ""},
			{"DELETE", "/api/v2/organizations/" + o + "/provisionerkeys/" + long, 404, ""},
			{"GET", "/api/v2/users/me/workspace/%00", 400, ""},
			{"GET", "/api/v2/users/me/workspace/" + long, 404, ""},
			{"PATCH", "/api/v2/workspacebuilds/" + uuid.NewString() + "/cancel", 404, ""},
			{"POST", "/api/v2/templateversions/%00/archive", 400, ""},
		} {
			t.Run(c.method+" "+c.path[:min(len(c.path), 90)], func(t *testing.T) {
				res := call(ctx, t, f.srv, c.method, c.path, owner, nil)
				requireClientError(t, res, c.want, c.field)
			})
		}
		for _, path := range []string{"/api/v2/provisionerdaemons/jobs/not-a-job/update", "/api/v2/provisionerdaemons/jobs/" + uuid.NewString() + "/complete"} {
			res := call(ctx, t, f.srv, "POST", path, "", obj{"daemon_id": uuid.New()}, codersdk.WithHeader(codersdk.ProvisionerDaemonPSKHeader, coderdtest.TestPSK))
			requireClientError(t, res, 404, "")
		}
	})

	t.Run("after the barrage", func(t *testing.T) {
		res := call(ctx, t, f.srv, "GET", "/healthz", "", nil)
		require.Equal(t, 200, res.status)
		require.Equal(t, before, f.snapshot(ctx, t), "no bad request changed anything")
	})
}
