package terraform

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

// rawStateTemplate has what shapes addresses and order: count and for_each
// keys (numbers and strings that need quoting), data sources, a module
// with a key, a module inside a module, agents and their decorations in
// modules, and resources whose names sort differently from their types.
const rawStateTemplate = providerBlock + workspaceData + mainAgent + `
resource "terraform_data" "box" {
  count = data.coder_workspace.me.start_count
  input = coder_agent.main[0].init_script
}

resource "terraform_data" "keyed" {
  for_each = toset(["b", "a", "with \"quote\"", "x.y[0]"])
  input    = each.key
}

resource "coder_metadata" "box" {
  count       = data.coder_workspace.me.start_count
  resource_id = terraform_data.box[0].id
  item {
    key   = "size"
    value = "2"
  }
}

resource "coder_app" "web" {
  count    = data.coder_workspace.me.start_count
  agent_id = coder_agent.main[0].id
  slug     = "web"
  url      = "http://localhost:8080"
}

module "outer" {
  source   = "./modules/outer"
  for_each = toset(["one", "two"])
  name     = each.key
}
`

const outerModule = `
terraform {
  required_providers {
    coder = { source = "coder/coder" }
  }
}
variable "name" { type = string }
data "coder_workspace" "me" {}
# Agent names are unique per workspace: only the "one" instance has one.
resource "coder_agent" "dev" {
  count = var.name == "one" ? data.coder_workspace.me.start_count : 0
  os    = "linux"
  arch  = "amd64"
}
resource "terraform_data" "vm" {
  count = length(coder_agent.dev)
  input = coder_agent.dev[0].token
}
module "inner" {
  source = "./inner"
  name   = var.name
}
`

const innerModule = `
variable "name" { type = string }
resource "terraform_data" "disk" {
  count = 2
  input = "${var.name}-${count.index}"
}
`

// TestStateResourcesMatchShow: the state file read directly gives exactly
// what `terraform show -json` gives (addresses, configuration addresses,
// keys, attribute values, dependencies, order), and the same resources
// and agents once converted, on a real apply.
func TestStateResourcesMatchShow(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t)
	ctx := testutil.Context(t, testutil.WaitLong)
	source := testutil.Tar(t, map[string]string{
		"main.tf":                     rawStateTemplate,
		"modules/outer/main.tf":       outerModule,
		"modules/outer/inner/main.tf": innerModule,
	})
	logs := newLogRecorder(t)
	j, err := r.newJob(ctx, source, newLogSink(logs.Logf, newRedactor(nil)))
	require.NoError(t, err)
	defer j.close()
	env, err := r.jobEnv(testMetadata(TransitionStart), TransitionStart, nil, nil)
	require.NoError(t, err)
	require.NoError(t, j.setEnv(env))
	for _, step := range []func() error{
		func() error { return j.init(ctx) },
		func() error { _, err := j.planAndApply(ctx, false); return err },
	} {
		if err := step(); err != nil {
			logs.dump()
			t.Fatal(err)
		}
	}
	raw, err := j.readState(nil)
	require.NoError(t, err)
	shown, err := j.showState(ctx)
	require.NoError(t, err)

	want := flatten(shown.Values.RootModule, "")
	got, err := stateResources(raw)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	for i := range want {
		require.Equal(t, want[i].Address, got[i].Address, "resource %d", i)
		require.Equal(t, want[i].ConfigAddr, got[i].ConfigAddr, want[i].Address)
		require.Equal(t, want[i].Mode, got[i].Mode, want[i].Address)
		require.Equal(t, want[i].Type, got[i].Type, want[i].Address)
		require.Equal(t, want[i].Name, got[i].Name, want[i].Address)
		require.Equal(t, want[i].Index, got[i].Index, want[i].Address)
		require.ElementsMatch(t, want[i].DependsOn, got[i].DependsOn, want[i].Address)
		if strings.HasPrefix(want[i].Type, "coder_") {
			require.JSONEq(t, mustJSON(t, want[i].Attrs), mustJSON(t, got[i].Attrs), want[i].Address)
		} else {
			// Dynamically typed attributes (terraform_data's input) keep
			// their type wrapper in the file; of other providers'
			// resources only the id is read.
			require.Equal(t, want[i].Attrs["id"], got[i].Attrs["id"], want[i].Address)
		}
	}
	require.Len(t, got, 18, "the template's instances: %v", addresses(got))

	fromShow, err := convertState(shown)
	require.NoError(t, err)
	fromRaw, err := convertResources(got, depsFromState(got))
	require.NoError(t, err)
	require.JSONEq(t, mustJSON(t, fromShow), mustJSON(t, fromRaw))
}

func TestStateResourcesRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	for name, state := range map[string]string{
		"not json":      `{"version":`,
		"version 3":     `{"version":3,"modules":[]}`,
		"unknown mode":  `{"version":4,"resources":[{"mode":"ephemeral","type":"x","name":"y","instances":[{}]}]}`,
		"no type":       `{"version":4,"resources":[{"mode":"managed","name":"y","instances":[{}]}]}`,
		"odd key":       `{"version":4,"resources":[{"mode":"managed","type":"x","name":"y","instances":[{"index_key":true}]}]}`,
		"bad attribute": `{"version":4,"resources":[{"mode":"managed","type":"x","name":"y","instances":[{"attributes":[1]}]}]}`,
	} {
		_, err := stateResources([]byte(state))
		require.Error(t, err, name)
	}
	// Deposed objects are skipped; an empty state has no resources.
	got, err := stateResources([]byte(`{"version":4,"resources":[{"mode":"managed","type":"x","name":"y","instances":[{"deposed":"abc","attributes":{}},{"attributes":{"id":"1"}}]}]}`))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "x.y", got[0].Address)
	got, err = stateResources([]byte(`{"version":4}`))
	require.NoError(t, err)
	require.Empty(t, got)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func addresses(rs []tfResource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Address
	}
	return out
}

// TestStartsApply: which machine-readable UI lines of `terraform apply`
// begin its apply phase (the log stage switches there, and a failure
// before it left nothing changed).
func TestStartsApply(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]bool{
		`{"@message":"data.coder_workspace.me: Refreshing...","type":"apply_start","hook":{"action":"read"}}`:                false,
		`{"@message":"Plan: 1 to add, 0 to change, 0 to destroy.","type":"change_summary","changes":{"operation":"plan"}}`:   false,
		`{"@message":"terraform_data.box[0]: Creating...","type":"apply_start","hook":{"action":"create"}}`:                  true,
		`{"@message":"Apply complete! Resources: 0 added","type":"change_summary","changes":{"operation":"apply"}}`:          true,
		`{"@message":"Destroy complete! Resources: 2 destroyed.","type":"change_summary","changes":{"operation":"destroy"}}`: true,
		`{"@message":"planned","type":"planned_change"}`:                                                                     false,
		`{"type":"apply_start"`: false,
	} {
		require.Equal(t, want, startsApply(line), line)
	}
}
