package provisionerd

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd/terraform"
	"github.com/opencoder/coder/testutil"
)

func testProvisionerMetadata(transition string) codersdk.ProvisionerMetadata {
	return codersdk.ProvisionerMetadata{
		AccessURL:           "https://coder.test/",
		WorkspaceTransition: transition,
		WorkspaceName:       "dev-ws",
		WorkspaceID:         "6f0b0a39-4b1b-4c3a-9d5c-0a3c8c1f0b11",
		WorkspaceBuildID:    "1d3e1f1a-5b8c-4a9f-8e1e-2c7b6a5d4e33",
		WorkspaceOwner:      "alice",
		WorkspaceOwnerID:    "0c5a8c57-0e0b-4d5a-bb0e-3b0e2f6a7c44",
		WorkspaceOwnerName:  "Alice Liddell",
		WorkspaceOwnerEmail: "alice@example.com",
		OwnerSessionToken:   "session-token-abcdef123456",
		OwnerSSHPublicKey:   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest alice",
		OwnerSSHPrivateKey:  "-----BEGIN OPENSSH PRIVATE KEY-----\nxyz\n-----END OPENSSH PRIVATE KEY-----\n",
		OwnerGroups:         []string{"Everyone", "devs"},
		OwnerLoginType:      "password",
		OwnerRBACRoles:      []codersdk.RBACRoleRef{{Name: "member", OrgID: "9a9a9a9a-0000-4000-8000-000000000001"}},
		TemplateID:          "7e7e7e7e-0000-4000-8000-000000000002",
		TemplateName:        "docker",
		TemplateVersion:     "v1",
		AgentScripts:        map[string]string{"linux_amd64": "#!/bin/sh\necho ${ACCESS_URL}\n"},
	}
}

func TestTerraformMetadata(t *testing.T) {
	t.Parallel()
	m := testProvisionerMetadata("start")
	got := terraformMetadata(m)
	require.Equal(t, terraform.Metadata{
		AccessURL:           m.AccessURL,
		WorkspaceTransition: terraform.TransitionStart,
		WorkspaceName:       m.WorkspaceName,
		WorkspaceID:         m.WorkspaceID,
		WorkspaceBuildID:    m.WorkspaceBuildID,
		Owner:               m.WorkspaceOwner,
		OwnerID:             m.WorkspaceOwnerID,
		OwnerName:           m.WorkspaceOwnerName,
		OwnerEmail:          m.WorkspaceOwnerEmail,
		OwnerSessionToken:   m.OwnerSessionToken,
		OwnerSSHPublicKey:   m.OwnerSSHPublicKey,
		OwnerSSHPrivateKey:  m.OwnerSSHPrivateKey,
		OwnerGroups:         m.OwnerGroups,
		OwnerLoginType:      m.OwnerLoginType,
		OwnerRBACRoles:      []terraform.RBACRole{{Name: "member", OrgID: "9a9a9a9a-0000-4000-8000-000000000001"}},
		TemplateID:          m.TemplateID,
		TemplateName:        m.TemplateName,
		TemplateVersion:     m.TemplateVersion,
		AgentScripts:        m.AgentScripts,
	}, got)

	for _, tc := range []struct{ in, want string }{
		{"start", "start"}, {"stop", "stop"}, {"destroy", "destroy"}, {"delete", "destroy"},
	} {
		require.Equal(t, terraform.Transition(tc.want), terraformMetadata(codersdk.ProvisionerMetadata{WorkspaceTransition: tc.in}).WorkspaceTransition, tc.in)
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"job error", &JobError{Code: codersdk.JobErrorCodeTerraform, Err: errors.New("x")}, codersdk.JobErrorCodeTerraform},
		{"wrapped job error", errors.Join(errors.New("a"), &JobError{Code: codersdk.JobErrorCodeInvalidTemplate, Err: errors.New("x")}), codersdk.JobErrorCodeInvalidTemplate},
		{"canceled", context.Canceled, codersdk.JobErrorCodeCanceled},
		{"other", errors.New("boom"), codersdk.JobErrorCodeInternal},
	} {
		require.Equal(t, tc.want, ErrorCode(tc.err), tc.name)
	}
}

// builtinTemplate uses only Terraform's built-in provider, so it needs no
// provider mirror.
const builtinTemplate = `
variable "fail" {
  type    = bool
  default = false
}

resource "terraform_data" "first" {
  input = "one"
}

resource "terraform_data" "second" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "echo applying second"
  }
}
`

func TestTerraformRunnerErrorCodes(t *testing.T) {
	t.Parallel()
	r := newTestTerraformRunner(t, emptyConfig(t))
	garbage := make([]byte, 2048)
	for i := range garbage {
		garbage[i] = byte(i*7 + 3)
	}
	cases := []struct {
		name    string
		source  []byte
		code    string
		message string
	}{
		{
			name:    "terraform syntax error",
			source:  testutil.Tar(t, map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {\n"}),
			code:    codersdk.JobErrorCodeTerraform,
			message: "Unclosed configuration block",
		},
		{
			name:    "terraform plan error",
			source:  testutil.Tar(t, map[string]string{"main.tf": "output \"x\" {\n  value = terraform_data.nope.id\n}\n"}),
			code:    codersdk.JobErrorCodeTerraform,
			message: "Reference to undeclared resource",
		},
		{
			name:    "unsafe archive",
			source:  testutil.Tar(t, map[string]string{"main.tf": builtinTemplate, "../evil.tf": "#"}),
			code:    codersdk.JobErrorCodeInvalidTemplate,
			message: "unsafe template archive",
		},
		{
			name:   "not a tar",
			source: garbage,
			code:   codersdk.JobErrorCodeInvalidTemplate,
		},
		{
			name:   "truncated tar",
			source: testutil.Tar(t, map[string]string{"main.tf": builtinTemplate})[:700],
			code:   codersdk.JobErrorCodeInvalidTemplate,
		},
		{
			name:   "bad gzip",
			source: append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}, garbage[:100]...),
			code:   codersdk.JobErrorCodeInvalidTemplate,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs logSink
			_, err := r.Import(testutil.Context(t, testutil.WaitLong), &codersdk.AcquiredJob{
				Type:                  codersdk.ProvisionerJobTypeTemplateVersionImport,
				TemplateSourceArchive: tc.source,
				TemplateImport:        &codersdk.AcquiredTemplateImport{},
			}, logs.logf)
			require.Error(t, err)
			require.Equal(t, tc.code, ErrorCode(err), "error: %v\nlogs:\n%s", err, logs.text())
			require.ErrorContains(t, err, tc.message)
		})
	}

	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(testutil.Context(t, testutil.WaitLong))
		cancel()
		_, err := r.Import(ctx, &codersdk.AcquiredJob{
			Type:                  codersdk.ProvisionerJobTypeTemplateVersionImport,
			TemplateSourceArchive: testutil.Tar(t, map[string]string{"main.tf": builtinTemplate}),
		}, nil)
		require.Equal(t, codersdk.JobErrorCodeCanceled, ErrorCode(err), "error: %v", err)
	})

	t.Run("build without input", func(t *testing.T) {
		t.Parallel()
		_, err := r.Build(testutil.Context(t, testutil.WaitLong), &codersdk.AcquiredJob{Type: codersdk.ProvisionerJobTypeWorkspaceBuild}, nil)
		require.Equal(t, codersdk.JobErrorCodeInternal, ErrorCode(err))
	})
}

func TestTerraformRunnerFailedApplyKeepsPartialState(t *testing.T) {
	t.Parallel()
	r := newTestTerraformRunner(t, emptyConfig(t))
	var logs logSink
	res, err := r.Build(testutil.Context(t, testutil.WaitLong), &codersdk.AcquiredJob{
		Type: codersdk.ProvisionerJobTypeWorkspaceBuild,
		TemplateSourceArchive: testutil.Tar(t, map[string]string{"main.tf": `
resource "terraform_data" "first" {}

resource "terraform_data" "broken" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "echo about to fail; exit 3"
  }
}
`}),
		WorkspaceBuild: &codersdk.AcquiredWorkspaceBuild{Metadata: testProvisionerMetadata("start")},
	}, logs.logf)
	require.Error(t, err)
	require.Equal(t, codersdk.JobErrorCodeTerraform, ErrorCode(err), "error: %v", err)
	require.ErrorContains(t, err, "terraform apply failed")
	require.NotNil(t, res, "a failed apply returns the partial state")
	require.Contains(t, stateAddresses(t, res.State), "terraform_data.first")
	require.Contains(t, logs.text(), "about to fail")
}

func TestTerraformRunnerImport(t *testing.T) {
	t.Parallel()
	r := newTestTerraformRunner(t, testutil.ToolchainConfig(t))
	var logs logSink
	res, err := r.Import(testutil.Context(t, testutil.WaitLong), &codersdk.AcquiredJob{
		Type: codersdk.ProvisionerJobTypeTemplateVersionImport,
		TemplateSourceArchive: testutil.Tar(t, map[string]string{
			"README.md": "# Dev box\n",
			"main.tf": coderProvider + `
data "coder_workspace" "me" {}

data "coder_parameter" "region" {
  name    = "region"
  type    = "string"
  default = "eu"
  option {
    name  = "Europe"
    value = "eu"
  }
  option {
    name  = "United States"
    value = "us"
  }
}

` + mainAgent + `
resource "terraform_data" "box" {
  count = data.coder_workspace.me.start_count
  input = coder_agent.main[0].id
}

resource "terraform_data" "home" {}
`,
		}),
		TemplateImport: &codersdk.AcquiredTemplateImport{Metadata: codersdk.ProvisionerMetadata{AccessURL: "https://coder.test/"}},
	}, logs.logf)
	require.NoError(t, err, "logs:\n%s", logs.text())
	require.Equal(t, "# Dev box\n", res.Readme)
	require.Len(t, res.Parameters, 1)
	require.Equal(t, "region", res.Parameters[0].Name)
	require.Equal(t, "eu", res.Parameters[0].DefaultValue)
	require.Len(t, res.Parameters[0].Options, 2)

	names := func(rs []codersdk.ProvisionerResource) map[string][]string {
		out := map[string][]string{}
		for _, r := range rs {
			var agents []string
			for _, a := range r.Agents {
				agents = append(agents, a.Name)
			}
			out[r.Type+"."+r.Name] = agents
		}
		return out
	}
	require.Equal(t, map[string][]string{"terraform_data.box": {"main"}, "terraform_data.home": nil}, names(res.StartResources))
	require.Equal(t, map[string][]string{"terraform_data.home": nil}, names(res.StopResources))
}

func TestTerraformRunnerBuildLifecycle(t *testing.T) {
	t.Parallel()
	r := newTestTerraformRunner(t, testutil.ToolchainConfig(t))
	source := testutil.Tar(t, map[string]string{"main.tf": coderProvider + `
data "coder_workspace" "me" {}
data "coder_workspace_owner" "me" {}

data "coder_parameter" "size" {
  name    = "size"
  type    = "number"
  default = "1"
  mutable = true
}

` + mainAgent + `
resource "terraform_data" "box" {
  count = data.coder_workspace.me.start_count
  input = coder_agent.main[0].token
}

output "seen" {
  value = {
    transition = data.coder_workspace.me.transition
    workspace  = data.coder_workspace.me.name
    owner      = data.coder_workspace_owner.me.name
    email      = data.coder_workspace_owner.me.email
    groups     = data.coder_workspace_owner.me.groups
    template   = data.coder_workspace.me.template_name
    size       = data.coder_parameter.size.value
  }
}
`})
	build := func(transition string, state []byte) *codersdk.CompletedWorkspaceBuild {
		t.Helper()
		var logs logSink
		res, err := r.Build(testutil.Context(t, testutil.WaitLong), &codersdk.AcquiredJob{
			Type:                  codersdk.ProvisionerJobTypeWorkspaceBuild,
			TemplateSourceArchive: source,
			WorkspaceBuild: &codersdk.AcquiredWorkspaceBuild{
				State:      state,
				Parameters: []codersdk.WorkspaceBuildParameter{{Name: "size", Value: "3"}},
				Metadata:   testProvisionerMetadata(transition),
			},
		}, logs.logf)
		require.NoError(t, err, "logs:\n%s", logs.text())
		return res
	}

	start := build("start", nil)
	require.Len(t, start.Resources, 1)
	require.Len(t, start.Resources[0].Agents, 1)
	require.NotEmpty(t, start.Resources[0].Agents[0].Token, "a build reports agent tokens")
	seen := stateOutput(t, start.State, "seen")
	require.Equal(t, map[string]any{
		"transition": "start",
		"workspace":  "dev-ws",
		"owner":      "alice",
		"email":      "alice@example.com",
		"groups":     []any{"Everyone", "devs"},
		"template":   "docker",
		"size":       "3",
	}, seen)

	stop := build("stop", start.State)
	require.Equal(t, "stop", stateOutput(t, stop.State, "seen")["transition"])
	require.NotContains(t, stateAddresses(t, stop.State), "terraform_data.box")

	// coderd's "delete" is Terraform's destroy.
	del := build("delete", stop.State)
	require.Empty(t, stateAddresses(t, del.State))
}

// stateAddresses lists a raw state's managed resources.
func stateAddresses(t *testing.T, state []byte) []string {
	t.Helper()
	var s struct {
		Resources []struct{ Mode, Type, Name string } `json:"resources"`
	}
	require.NoError(t, json.Unmarshal(state, &s))
	var out []string
	for _, r := range s.Resources {
		if r.Mode == "managed" {
			out = append(out, r.Type+"."+r.Name)
		}
	}
	return out
}

// stateOutput reads an object output from a raw state.
func stateOutput(t *testing.T, state []byte, name string) map[string]any {
	t.Helper()
	var s struct {
		Outputs map[string]struct {
			Value map[string]any `json:"value"`
		} `json:"outputs"`
	}
	require.NoError(t, json.Unmarshal(state, &s))
	return s.Outputs[name].Value
}

// mainAgent is the templates' coder_agent "main": one per started
// workspace.
const mainAgent = `
resource "coder_agent" "main" {
  count = data.coder_workspace.me.start_count
  os    = "linux"
  arch  = "amd64"
}
`
