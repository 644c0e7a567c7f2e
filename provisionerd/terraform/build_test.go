package terraform

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

const buildTemplate = providerBlock + workspaceData + `
data "coder_parameter" "size" {
  name    = "size"
  type    = "number"
  default = "1"
  mutable = true
  validation {
    min       = 1
    max       = 10
    monotonic = "increasing"
  }
}

` + mainAgent + `
resource "terraform_data" "box" {
  count = data.coder_workspace.me.start_count
  input = {
    init  = coder_agent.main[0].init_script
    token = coder_agent.main[0].token
  }
  # Shows what the template can and cannot see of the daemon's environment,
  # and prints a secret that the runner must redact from the logs.
  provisioner "local-exec" {
    command = "echo \"psk=$${CODER_PROVISIONER_DAEMON_PSK:-absent} aws=$${AWS_REGION:-absent} other=$${UNLISTED_VAR:-absent} token=${nonsensitive(data.coder_workspace_owner.me.session_token)}\""
  }
}

resource "terraform_data" "home" {
  input = "home-${data.coder_workspace.me.id}"
}

resource "coder_metadata" "home" {
  resource_id = terraform_data.home.id
  daily_cost  = 3
  item {
    key   = "owner"
    value = data.coder_workspace_owner.me.name
  }
}

output "env" {
  sensitive = true
  value = {
    access_url       = data.coder_workspace.me.access_url
    transition       = data.coder_workspace.me.transition
    start_count      = data.coder_workspace.me.start_count
    workspace_name   = data.coder_workspace.me.name
    workspace_id     = data.coder_workspace.me.id
    template_id      = data.coder_workspace.me.template_id
    template_name    = data.coder_workspace.me.template_name
    template_version = data.coder_workspace.me.template_version
    owner            = data.coder_workspace_owner.me.name
    owner_id         = data.coder_workspace_owner.me.id
    owner_name       = data.coder_workspace_owner.me.full_name
    owner_email      = data.coder_workspace_owner.me.email
    session_token    = data.coder_workspace_owner.me.session_token
    ssh_public_key   = data.coder_workspace_owner.me.ssh_public_key
    ssh_private_key  = data.coder_workspace_owner.me.ssh_private_key
    groups           = data.coder_workspace_owner.me.groups
    login_type       = data.coder_workspace_owner.me.login_type
    rbac_roles       = data.coder_workspace_owner.me.rbac_roles
    size             = data.coder_parameter.size.value
  }
}
`

const (
	testSessionToken = "session-token-abcdef123456"
	testPrivateKey   = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n"
)

func testMetadata(transition Transition) Metadata {
	return Metadata{
		AccessURL:           "https://coder.test/",
		WorkspaceTransition: transition,
		WorkspaceName:       "dev-ws",
		WorkspaceID:         "6f0b0a39-4b1b-4c3a-9d5c-0a3c8c1f0b11",
		WorkspaceBuildID:    "1d3e1f1a-5b8c-4a9f-8e1e-2c7b6a5d4e33",
		Owner:               "alice",
		OwnerID:             "0c5a8c57-0e0b-4d5a-bb0e-3b0e2f6a7c44",
		OwnerName:           "Alice Liddell",
		OwnerEmail:          "alice@example.com",
		OwnerSessionToken:   testSessionToken,
		OwnerSSHPublicKey:   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest alice",
		OwnerSSHPrivateKey:  testPrivateKey,
		OwnerGroups:         []string{"Everyone", "devs"},
		OwnerLoginType:      "password",
		OwnerRBACRoles:      []RBACRole{{Name: "member", OrgID: "9a9a9a9a-0000-4000-8000-000000000001"}},
		TemplateID:          "7e7e7e7e-0000-4000-8000-000000000002",
		TemplateName:        "docker",
		TemplateVersion:     "v1",
		AgentScripts:        map[string]string{"linux_amd64": "#!/bin/sh\necho url=${ACCESS_URL} auth=${AUTH_TYPE}\n"},
	}
}

// stateOutput reads an output's value from a raw state file.
func stateOutput(t *testing.T, state []byte, name string) map[string]any {
	t.Helper()
	var s struct {
		Outputs map[string]struct {
			Value map[string]any `json:"value"`
		} `json:"outputs"`
	}
	if err := json.Unmarshal(state, &s); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	return s.Outputs[name].Value
}

// stateInstances lists "address -> id" of a raw state's managed instances.
func stateInstances(t *testing.T, state []byte) map[string]string {
	t.Helper()
	var s struct {
		Resources []struct {
			Mode, Type, Name string
			Instances        []struct {
				IndexKey   any            `json:"index_key"`
				Status     string         `json:"status"`
				Attributes map[string]any `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(state, &s); err != nil {
		t.Fatalf("decode state: %v", err)
	}
	out := map[string]string{}
	for _, r := range s.Resources {
		if r.Mode != "managed" {
			continue
		}
		for _, in := range r.Instances {
			id, _ := in.Attributes["id"].(string)
			if in.Status != "" {
				id += " (" + in.Status + ")"
			}
			out[r.Type+"."+r.Name] = id
		}
	}
	return out
}

func findAgent(resources []codersdk.ProvisionerResource, name string) (string, *codersdk.ProvisionerAgent) {
	for _, r := range resources {
		for i := range r.Agents {
			if r.Agents[i].Name == name {
				return r.Type + "." + r.Name, &r.Agents[i]
			}
		}
	}
	return "", nil
}

func TestBuildLifecycle(t *testing.T) {
	t.Parallel()
	environ := append(os.Environ(),
		"CODER_PROVISIONER_DAEMON_PSK=daemon-secret-psk-value",
		"AWS_REGION=eu-test-1",
		"UNLISTED_VAR=should-not-pass",
	)
	r := newTestRunner(t, func(o *Options) { o.Environ = environ })
	ctx := testutil.Context(t, testutil.WaitLong)
	source := testutil.Tar(t, map[string]string{"main.tf": buildTemplate})

	build := func(t *testing.T, transition Transition, state []byte, size, prevSize string) (*BuildResult, *logRecorder, error) {
		t.Helper()
		logs := newLogRecorder(t)
		req := BuildRequest{
			Source:     source,
			State:      state,
			Metadata:   testMetadata(transition),
			Parameters: []codersdk.WorkspaceBuildParameter{{Name: "size", Value: size}},
			Logf:       logs.Logf,
		}
		if prevSize != "" {
			req.PreviousParameters = []codersdk.WorkspaceBuildParameter{{Name: "size", Value: prevSize}}
		}
		res, err := r.Build(ctx, req)
		return res, logs, err
	}

	// 1. Start a new workspace.
	start1, logs, err := build(t, TransitionStart, nil, "2", "")
	if err != nil {
		logs.dump()
		t.Fatalf("start: %v", err)
	}
	where, agent := findAgent(start1.Resources, "main")
	if agent == nil {
		t.Fatalf("no agent in %+v", start1.Resources)
	}
	if where != "terraform_data.box" {
		t.Errorf("agent attached to %s, want terraform_data.box", where)
	}
	if len(agent.Token) != 36 || agent.Auth != "token" {
		t.Errorf("agent token %q auth %q", agent.Token, agent.Auth)
	}
	if len(agent.Scripts) != 1 || agent.Scripts[0].Script != "echo hi" || !agent.Scripts[0].RunOnStart {
		t.Errorf("scripts = %+v", agent.Scripts)
	}

	// The environment contract, as the template saw it.
	env := stateOutput(t, start1.State, "env")
	m := testMetadata(TransitionStart)
	want := map[string]any{
		"access_url": "https://coder.test/", "transition": "start", "start_count": float64(1),
		"workspace_name": m.WorkspaceName, "workspace_id": m.WorkspaceID,
		"template_id": m.TemplateID, "template_name": m.TemplateName, "template_version": m.TemplateVersion,
		"owner": m.Owner, "owner_id": m.OwnerID, "owner_name": m.OwnerName, "owner_email": m.OwnerEmail,
		"session_token": m.OwnerSessionToken, "ssh_public_key": m.OwnerSSHPublicKey, "ssh_private_key": m.OwnerSSHPrivateKey,
		"groups": []any{"Everyone", "devs"}, "login_type": "password",
		"rbac_roles": []any{map[string]any{"name": "member", "org_id": m.OwnerRBACRoles[0].OrgID}},
		"size":       "2",
	}
	assertJSONEqual(t, "template environment", want, env)

	// The init script came from CODER_AGENT_SCRIPT_linux_amd64.
	var boxState struct {
		Resources []struct {
			Name      string
			Instances []struct {
				Attributes struct {
					Input struct {
						Value json.RawMessage `json:"value"`
					} `json:"input"`
				} `json:"attributes"`
			} `json:"instances"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(start1.State, &boxState); err != nil {
		t.Fatal(err)
	}
	var initScript string
	for _, r := range boxState.Resources {
		if r.Name == "box" && len(r.Instances) == 1 {
			var v struct{ Init string }
			if err := json.Unmarshal(r.Instances[0].Attributes.Input.Value, &v); err != nil {
				t.Fatal(err)
			}
			initScript = v.Init
		}
	}
	if !strings.Contains(initScript, "echo url=https://coder.test/ auth=token") {
		t.Errorf("init script = %q", initScript)
	}

	// Host environment: allow-listed passes, CODER_* and unlisted do not;
	// secrets are redacted from every log line.
	text := logs.text()
	if !strings.Contains(text, "psk=absent aws=eu-test-1 other=absent token=[REDACTED]") {
		t.Errorf("local-exec output not found or wrong; logs:\n%s", text)
	}
	for _, secret := range []string{testSessionToken, "daemon-secret-psk-value", "should-not-pass", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"} {
		if strings.Contains(text, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	stages := map[string]bool{}
	for _, l := range logs.all() {
		stages[l.Stage] = true
	}
	for _, s := range []string{StageInitializing, StagePlanning, StageApplying} {
		if !stages[s] {
			t.Errorf("no log in stage %q", s)
		}
	}
	homeID := stateInstances(t, start1.State)["terraform_data.home"]
	if homeID == "" {
		t.Fatalf("no home in state: %v", stateInstances(t, start1.State))
	}

	// 2. Stop: the agent and its machine go, home stays.
	stop, logs, err := build(t, TransitionStop, start1.State, "2", "2")
	if err != nil {
		logs.dump()
		t.Fatalf("stop: %v", err)
	}
	if _, a := findAgent(stop.Resources, "main"); a != nil {
		t.Errorf("agent present after stop: %+v", stop.Resources)
	}
	assertJSONEqual(t, "stop resources", []codersdk.ProvisionerResource{{
		Name: "home", Type: "terraform_data", DailyCost: 3,
		Metadata: []codersdk.ResourceMetadataItem{{Key: "owner", Value: "alice"}},
	}}, stop.Resources)
	if got := stateInstances(t, stop.State); got["terraform_data.home"] != homeID || got["terraform_data.box"] != "" {
		t.Errorf("stop state = %v, want home %s and no box", got, homeID)
	}
	if got := stateOutput(t, stop.State, "env")["transition"]; got != "stop" {
		t.Errorf("transition seen by the template = %v", got)
	}

	// A monotonic parameter may not shrink: the provider reads the previous
	// value from CODER_PARAMETER_PREVIOUS_<hash>.
	res, _, err := build(t, TransitionStart, stop.State, "1", "2")
	if err == nil || res != nil {
		t.Fatalf("shrinking a monotonic parameter: res=%v err=%v", res, err)
	}
	if !strings.Contains(err.Error(), "monotonic") && !strings.Contains(err.Error(), "greater") {
		t.Errorf("error does not explain the monotonic rule: %v", err)
	}

	// 3. Start again from the stopped state: a new agent, same home.
	start2, logs, err := build(t, TransitionStart, stop.State, "3", "2")
	if err != nil {
		logs.dump()
		t.Fatalf("restart: %v", err)
	}
	_, agent2 := findAgent(start2.Resources, "main")
	if agent2 == nil || agent2.Token == "" || agent2.Token == agent.Token {
		t.Errorf("agent after restart: %+v (old token %s)", agent2, agent.Token)
	}
	if got := stateInstances(t, start2.State)["terraform_data.home"]; got != homeID {
		t.Errorf("home id changed: %s -> %s", homeID, got)
	}

	// 4. Destroy: nothing left.
	destroyed, logs, err := build(t, TransitionDestroy, start2.State, "3", "3")
	if err != nil {
		logs.dump()
		t.Fatalf("destroy: %v", err)
	}
	if len(destroyed.Resources) != 0 || len(stateInstances(t, destroyed.State)) != 0 {
		t.Errorf("after destroy: resources %+v state %v", destroyed.Resources, stateInstances(t, destroyed.State))
	}

	// 5. Destroying an empty workspace is a no-op success.
	for _, state := range [][]byte{nil, destroyed.State} {
		res, logs, err := build(t, TransitionDestroy, state, "3", "3")
		if err != nil || res == nil {
			t.Fatalf("destroy empty: %v", err)
		}
		if string(res.State) != string(state) {
			t.Errorf("destroy empty changed the state")
		}
		for _, l := range logs.all() {
			if l.Stage == StageInitializing {
				t.Errorf("destroy of an empty state ran terraform: %+v", l)
			}
		}
	}
	assertWorkDirClean(t, r)
}

func TestBuildFailedApplyReturnsPartialState(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	logs := newLogRecorder(t)
	res, err := r.Build(testutil.Context(t, testutil.WaitLong), BuildRequest{
		Source: testutil.Tar(t, map[string]string{"main.tf": `
resource "terraform_data" "ok" {
  input = "fine"
}

resource "terraform_data" "bad" {
  depends_on = [terraform_data.ok]
  provisioner "local-exec" {
    command = "echo failing on purpose >&2; exit 3"
  }
}
`}),
		Metadata: testMetadata(TransitionStart),
		Logf:     logs.Logf,
	})
	if err == nil {
		t.Fatal("build succeeded")
	}
	var tfErr *Error
	if !errors.As(err, &tfErr) || tfErr.Command != "apply" {
		t.Fatalf("error %v (%T) is not an apply *Error", err, err)
	}
	if !strings.Contains(err.Error(), "local-exec provisioner error") {
		t.Errorf("error lacks terraform's diagnostic: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("a failure reported as canceled: %v", err)
	}
	if res == nil || len(res.State) == 0 {
		t.Fatalf("no partial state returned: %+v", res)
	}
	got := stateInstances(t, res.State)
	if got["terraform_data.ok"] == "" || !strings.HasSuffix(got["terraform_data.bad"], "(tainted)") {
		t.Errorf("partial state = %v, want ok created and bad tainted", got)
	}
	if res.Resources != nil {
		t.Errorf("resources reported for a failed build: %+v", res.Resources)
	}
}

// Jobs of one runner share its plugin cache; init is serialised by a file
// lock, everything else runs side by side.
func TestConcurrentBuildsShareCache(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	ctx := testutil.Context(t, testutil.WaitLong)
	source := testutil.Tar(t, map[string]string{"main.tf": benchTemplate})
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		go func() {
			meta := testMetadata(TransitionStart)
			meta.WorkspaceID = newUUID()
			res, err := r.Build(ctx, BuildRequest{Source: source, Metadata: meta})
			if err == nil {
				if _, a := findAgent(res.Resources, "main"); a == nil || a.Token == "" || len(a.Apps) != 1 {
					err = errors.New("agent missing or incomplete")
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil {
			t.Errorf("build: %v", err)
		}
	}
	assertWorkDirClean(t, r)
}
