package terraform

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

const importTemplate = providerBlock + workspaceData + `
data "coder_parameter" "region" {
  name         = "region"
  display_name = "Region"
  description  = "Where the **workspace** runs. See [the docs](https://example.com/regions)."
  type         = "string"
  form_type    = "radio"
  default      = "eu"
  icon         = "/icon/region.svg"
  order        = 1
  option {
    name        = "Europe"
    description = "Frankfurt"
    value       = "eu"
    icon        = "/emojis/1f1ea-1f1fa.png"
  }
  option {
    name  = "United States"
    value = "us"
  }
}

data "coder_parameter" "cpus" {
  name    = "cpus"
  type    = "number"
  default = "2"
  mutable = true
  order   = 2
  validation {
    min       = 1
    max       = 8
    monotonic = "increasing"
    error     = "{value} is not between {min} and {max}"
  }
}

data "coder_parameter" "project" {
  name    = "project"
  type    = "string"
  default = "demo"
  mutable = true
  order   = 3
  validation {
    regex = "^[a-z]+$"
    error = "lowercase letters only"
  }
}

data "coder_parameter" "debug" {
  name      = "debug"
  type      = "bool"
  default   = "false"
  mutable   = true
  ephemeral = true
  form_type = "switch"
  order     = 4
}

data "coder_parameter" "tags" {
  name    = "tags"
  type    = "list(string)"
  default = jsonencode(["a", "b"])
  mutable = true
  styling = jsonencode({ placeholder = "add a tag" })
  order   = 5
}

data "coder_parameter" "notes" {
  name        = "notes"
  description = "Required: no default."
  order       = 6
}

resource "coder_agent" "dev" {
  count                   = data.coder_workspace.me.start_count
  os                      = "linux"
  arch                    = "amd64"
  dir                     = "/home/coder"
  env                     = { EDITOR = "vim", PATH_EXTRA = "/opt/bin" }
  startup_script          = "echo starting"
  startup_script_behavior = "blocking"
  shutdown_script         = "echo stopping"
  connection_timeout      = 300
  troubleshooting_url     = "https://example.com/help"
  motd_file               = "/etc/motd"
  order                   = 7
  metadata {
    key          = "load"
    display_name = "Load"
    script       = "cat /proc/loadavg"
    interval     = 10
    timeout      = 1
    order        = 1
  }
  display_apps {
    vscode          = false
    vscode_insiders = true
  }
}

resource "coder_script" "hello" {
  count              = data.coder_workspace.me.start_count
  agent_id           = coder_agent.dev[0].id
  display_name       = "Hello"
  icon               = "/icon/hello.svg"
  script             = "echo hello"
  run_on_start       = true
  start_blocks_login = true
  timeout            = 60
  log_path           = "hello.log"
}

resource "coder_script" "nightly" {
  count        = data.coder_workspace.me.start_count
  agent_id     = coder_agent.dev[0].id
  display_name = "Nightly"
  script       = "echo nightly"
  cron         = "0 0 3 * * *"
}

resource "coder_app" "code" {
  count        = data.coder_workspace.me.start_count
  agent_id     = coder_agent.dev[0].id
  slug         = "code"
  display_name = "Code"
  url          = "http://localhost:8080"
  icon         = "/icon/code.svg"
  subdomain    = true
  share        = "authenticated"
  order        = 2
  healthcheck {
    url       = "http://localhost:8080/healthz"
    interval  = 5
    threshold = 6
  }
}

resource "coder_app" "shell" {
  count        = data.coder_workspace.me.start_count
  agent_id     = coder_agent.dev[0].id
  slug         = "shell"
  display_name = "Shell"
  command      = "bash"
}

resource "coder_env" "gopath" {
  count    = data.coder_workspace.me.start_count
  agent_id = coder_agent.dev[0].id
  name     = "GOPATH"
  value    = "/go"
}

resource "coder_env" "path_extra" {
  count          = data.coder_workspace.me.start_count
  agent_id       = coder_agent.dev[0].id
  name           = "PATH_EXTRA"
  value          = "/usr/local/go/bin"
  merge_strategy = "append"
}

# The agent reaches its machine through a local, as templates often do.
locals {
  agent_token = try(coder_agent.dev[0].token, "")
  agent_init  = try(coder_agent.dev[0].init_script, "")
}

# An image the machine depends on: a resource between the agent and nothing.
resource "terraform_data" "image" {
  input = "image-${data.coder_workspace_owner.me.name}"
}

resource "terraform_data" "machine" {
  count = data.coder_workspace.me.start_count
  input = {
    image = terraform_data.image.output
    init  = local.agent_init
    token = local.agent_token
  }
}

# A resource built on top of the machine also depends on the agent, further.
resource "terraform_data" "sidecar" {
  count = data.coder_workspace.me.start_count
  input = terraform_data.machine[0].output
}

resource "terraform_data" "home" {
  input = "home-${data.coder_workspace.me.id}"
}

resource "coder_metadata" "home" {
  resource_id = terraform_data.home.id
  icon        = "/icon/disk.svg"
  daily_cost  = 5
  item {
    key   = "size"
    value = "10GiB"
  }
  item {
    key       = "password"
    value     = "hunter2"
    sensitive = true
  }
}

resource "coder_metadata" "machine" {
  count       = data.coder_workspace.me.start_count
  resource_id = terraform_data.machine[0].id
  hide        = true
  daily_cost  = 10
  item {
    key   = "kind"
    value = "container"
  }
}
`

func TestImport(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	logs := newLogRecorder(t)
	readme := "# Dev template\n\nA test template.\n"
	res, err := r.Import(testutil.Context(t, testutil.WaitLong), ImportRequest{
		Source:   testutil.Tar(t, map[string]string{"main.tf": importTemplate, "README.md": readme}),
		Metadata: Metadata{AccessURL: "https://coder.test/"},
		Logf:     logs.Logf,
	})
	if err != nil {
		logs.dump()
		t.Fatalf("import: %v", err)
	}
	if string(res.Readme) != readme {
		t.Errorf("readme = %q", res.Readme)
	}

	i32 := func(v int32) *int32 { return &v }
	wantParams := []codersdk.TemplateVersionParameter{
		{
			Name: "region", DisplayName: "Region",
			Description:          "Where the **workspace** runs. See [the docs](https://example.com/regions).",
			DescriptionPlaintext: "Where the workspace runs. See the docs.",
			Type:                 "string", FormType: "radio", DefaultValue: "eu", Icon: "/icon/region.svg", Order: 1,
			Options: []codersdk.TemplateVersionParameterOption{
				{Name: "Europe", Description: "Frankfurt", Value: "eu", Icon: "/emojis/1f1ea-1f1fa.png"},
				{Name: "United States", Value: "us"},
			},
		},
		{
			Name: "cpus", Type: "number", FormType: "input", Mutable: true, DefaultValue: "2", Order: 2,
			Options:       []codersdk.TemplateVersionParameterOption{},
			ValidationMin: i32(1), ValidationMax: i32(8),
			ValidationError: "{value} is not between {min} and {max}", ValidationMonotonic: codersdk.MonotonicOrderIncreasing,
		},
		{
			Name: "project", Type: "string", FormType: "input", Mutable: true, DefaultValue: "demo", Order: 3,
			Options:         []codersdk.TemplateVersionParameterOption{},
			ValidationRegex: "^[a-z]+$", ValidationError: "lowercase letters only",
		},
		{
			Name: "debug", Type: "bool", FormType: "switch", Mutable: true, Ephemeral: true, DefaultValue: "false", Order: 4,
			Options: []codersdk.TemplateVersionParameterOption{},
		},
		{
			Name: "tags", Type: "list(string)", FormType: "tag-select", Mutable: true, DefaultValue: `["a","b"]`, Order: 5,
			Styling: `{"placeholder":"add a tag"}`,
			Options: []codersdk.TemplateVersionParameterOption{},
		},
		{
			Name: "notes", Description: "Required: no default.", DescriptionPlaintext: "Required: no default.",
			Type: "string", FormType: "input", Required: true, Order: 6,
			Options: []codersdk.TemplateVersionParameterOption{},
		},
	}
	assertJSONEqual(t, "parameters", wantParams, res.Parameters)

	wantAgent := codersdk.ProvisionerAgent{
		Name: "dev", Auth: "token", OS: "linux", Arch: "amd64", Directory: "/home/coder",
		Env:                      map[string]string{"EDITOR": "vim", "PATH_EXTRA": "/opt/bin:/usr/local/go/bin", "GOPATH": "/go"},
		ConnectionTimeoutSeconds: 300, TroubleshootingURL: "https://example.com/help", MOTDFile: "/etc/motd",
		APIKeyScope: "all", Order: 7,
		Scripts: []codersdk.ProvisionerScript{
			{DisplayName: "Startup Script", Icon: "/emojis/25b6.png", Script: "echo starting", RunOnStart: true, StartBlocksLogin: true, LogPath: "coder-startup-script.log"},
			{DisplayName: "Shutdown Script", Icon: "/emojis/25c0.png", Script: "echo stopping", RunOnStop: true, LogPath: "coder-shutdown-script.log"},
			{DisplayName: "Hello", Icon: "/icon/hello.svg", Script: "echo hello", RunOnStart: true, StartBlocksLogin: true, TimeoutSeconds: 60, LogPath: "hello.log"},
			{DisplayName: "Nightly", Script: "echo nightly", Cron: "0 0 3 * * *"},
		},
		Apps: []codersdk.ProvisionerApp{
			{
				Slug: "code", DisplayName: "Code", URL: "http://localhost:8080", Icon: "/icon/code.svg", Subdomain: true,
				Share: "authenticated", Order: 2, OpenIn: "slim-window",
				Healthcheck: &codersdk.ProvisionerAppHealthcheck{URL: "http://localhost:8080/healthz", Interval: 5, Threshold: 6},
			},
			{Slug: "shell", DisplayName: "Shell", Command: "bash", Share: "owner", OpenIn: "slim-window"},
		},
		Metadata: []codersdk.ProvisionerAgentMetadata{
			{Key: "load", DisplayName: "Load", Script: "cat /proc/loadavg", Interval: 10, Timeout: 1, Order: 1},
		},
		DisplayApps: &codersdk.ProvisionerDisplayApps{VSCodeInsiders: true, WebTerminal: true, SSHHelper: true, PortForwardingHelper: true},
	}
	wantStart := []codersdk.ProvisionerResource{
		{Name: "home", Type: "terraform_data", Icon: "/icon/disk.svg", DailyCost: 5, Metadata: []codersdk.ResourceMetadataItem{
			{Key: "size", Value: "10GiB"}, {Key: "password", Value: "hunter2", Sensitive: true},
		}},
		{Name: "image", Type: "terraform_data"},
		{Name: "machine", Type: "terraform_data", Agents: []codersdk.ProvisionerAgent{wantAgent}, Hide: true, DailyCost: 10,
			Metadata: []codersdk.ResourceMetadataItem{{Key: "kind", Value: "container"}}},
		{Name: "sidecar", Type: "terraform_data"},
	}
	assertJSONEqual(t, "start resources", wantStart, res.StartResources)

	wantStop := []codersdk.ProvisionerResource{
		{Name: "home", Type: "terraform_data", Icon: "/icon/disk.svg", DailyCost: 5, Metadata: []codersdk.ResourceMetadataItem{
			{Key: "size", Value: "10GiB"}, {Key: "password", Value: "hunter2", Sensitive: true},
		}},
		{Name: "image", Type: "terraform_data"},
	}
	assertJSONEqual(t, "stop resources", wantStop, res.StopResources)

	// Logs come with stages and levels.
	stages := map[string]bool{}
	for _, l := range logs.all() {
		stages[l.Stage] = true
		if l.CreatedAt.IsZero() || l.Level == "" {
			t.Errorf("log line without time or level: %+v", l)
		}
	}
	for _, s := range []string{StageInitializing, StagePlanStart, StagePlanStop} {
		if !stages[s] {
			t.Errorf("no log line in stage %q; stages: %v", s, stages)
		}
	}

	assertWorkDirClean(t, r)
}

func TestImportErrors(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	cases := []struct {
		name    string
		files   map[string]string
		command string
		want    []string
	}{
		{
			name:    "syntax error",
			files:   map[string]string{"main.tf": providerBlock + "\nresource \"terraform_data\" \"x\" {\n  input = \"a\"\n"},
			command: "init",
			want:    []string{"Unclosed configuration block", "There is no closing brace for this block"},
		},
		{
			name:    "undeclared reference",
			files:   map[string]string{"main.tf": providerBlock + "\noutput \"x\" {\n  value = terraform_data.nope.id\n}\n"},
			command: "plan",
			want:    []string{"Reference to undeclared resource", `A managed resource "terraform_data" "nope" has not been declared`, "main.tf line"},
		},
		{
			name:    "invalid parameter",
			files:   map[string]string{"main.tf": providerBlock + "\ndata \"coder_parameter\" \"p\" {\n  name = \"p\"\n  type = \"number\"\n  default = \"abc\"\n}\n"},
			command: "plan",
			want:    []string{`data.coder_parameter.p`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logs := newLogRecorder(t)
			_, err := r.Import(testutil.Context(t, testutil.WaitLong), ImportRequest{Source: testutil.Tar(t, tc.files), Logf: logs.Logf})
			if err == nil {
				t.Fatal("import succeeded")
			}
			var tfErr *Error
			if !errors.As(err, &tfErr) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			if tfErr.Command != tc.command {
				t.Errorf("command = %q, want %q (%v)", tfErr.Command, tc.command, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestImportRejectsUnsafeArchive(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	outside := filepath.Join(r.workDir, "..", "evil.tf")
	_, err := r.Import(testutil.Context(t, testutil.WaitLong), ImportRequest{
		Source: testutil.Tar(t, map[string]string{"main.tf": providerBlock, "../evil.tf": "# escaped"}),
	})
	if !errors.Is(err, ErrUnsafeArchive) {
		t.Fatalf("err = %v, want ErrUnsafeArchive", err)
	}
	if _, err := os.Stat(outside); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s was written: %v", outside, err)
	}
	assertWorkDirClean(t, r)
}

// assertJSONEqual compares through JSON, the form coderd receives.
func assertJSONEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if string(w) != string(g) {
		t.Errorf("%s differ\nwant: %s\ngot:  %s", what, w, g)
	}
}
