package templates_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // the AWS provider's own hash of user_data in plans
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/templates"
)

// awsTestOverride makes the aws provider plan without AWS: static fake
// credentials, and none of the calls it makes when configured (STS for the
// account id, the metadata service, region validation). Terraform merges a
// *_override.tf file into the template's provider "aws" block.
const awsTestOverride = `provider "aws" {
  access_key                  = "AKIAIOSFODNN7EXAMPLE"
  secret_key                  = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 1
}
`

// awsTestOutputs exposes the rendered user data: the provider keeps only
// its SHA-1 in plans and state, which the test compares with this.
const awsTestOutputs = `output "test_user_data" {
  value     = local.user_data
  sensitive = true
}
`

// planJSON is the part of `terraform show -json PLAN` the test reads.
type planJSON struct {
	ResourceChanges []struct {
		Address string
		Change  struct {
			Actions []string
			After   map[string]any
		}
	} `json:"resource_changes"`
	PlannedValues struct {
		Outputs map[string]struct{ Value any }
	} `json:"planned_values"`
	PriorState struct {
		Values struct {
			RootModule struct {
				Resources []struct {
					Address string
					Values  map[string]any
				}
			} `json:"root_module"`
		}
	} `json:"prior_state"`
}

func (p planJSON) change(t *testing.T, address string) (actions []string, after map[string]any) {
	t.Helper()
	for _, rc := range p.ResourceChanges {
		if rc.Address == address {
			return rc.Change.Actions, rc.Change.After
		}
	}
	return nil, nil
}

func (p planJSON) prior(t *testing.T, address string) map[string]any {
	t.Helper()
	for _, r := range p.PriorState.Values.RootModule.Resources {
		if r.Address == address {
			return r.Values
		}
	}
	t.Fatalf("%s not in the plan's prior state", address)
	return nil
}

// coderParameter is the environment variable through which the provisioner
// hands a coder_parameter its value (ARCHITECTURE.md, Terraform contract).
func coderParameter(name, value string) string {
	sum := sha256.Sum256([]byte(name))
	return "CODER_PARAMETER_" + hex.EncodeToString(sum[:]) + "=" + value
}

// TestAWSLinuxTemplate runs the aws-linux template through init, validate
// and plan with the real hashicorp/aws provider (a prebuilt binary that
// `make toolchain` links into the mirror where the machine carries one),
// fake credentials and no AWS: an explicit AMI (var.ami_id) avoids the AMI
// lookup. The agent is created first (-target), as a build's apply would,
// so its init_script and token are known; then the plan of a start and of
// a stop are read back from `terraform show -json`: the instance's user
// data is the cloud-init that runs exactly that init script with that
// token, with the workspace's parameters and the admin's variables.
func TestAWSLinuxTemplate(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	if !tc.inMirror("hashicorp/aws") {
		t.Skipf("hashicorp/aws is not in %s: it is too large to build from the module proxy; "+
			"`make toolchain` links a prebuilt one from /opt/tf-plugins (present on this project's CI machines), "+
			"or pass it with EXTRA_PROVIDERS (docs/toolchain.md)", tc.mirror)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	require.NoError(t, templates.Write("aws-linux", dir))
	write(t, filepath.Join(dir, "zz_test_override.tf"), awsTestOverride)
	write(t, filepath.Join(dir, "zz_test_outputs.tf"), awsTestOutputs)

	const (
		accessURL   = "https://coder.example.com"
		workspaceID = "0b0c7e43-2f3d-4c57-9d9c-4d5d0a4a3f11"
		ownerID     = "6f1c6f62-3f55-4e43-9b5b-4d1f1e0a6a01"
		ami         = "ami-0123456789abcdef0"
	)
	env := func(transition string) []string {
		return tc.env(
			"CODER_AGENT_URL="+accessURL,
			// The provider fills in the placeholders.
			"CODER_AGENT_SCRIPT_linux_amd64=#!/bin/sh\ncurl -fsSL '${ACCESS_URL}bin/coder-linux-amd64' -o /tmp/coder # auth ${AUTH_TYPE}\n",
			"CODER_WORKSPACE_TRANSITION="+transition,
			"CODER_WORKSPACE_ID="+workspaceID,
			"CODER_WORKSPACE_NAME=Dev-1",
			"CODER_WORKSPACE_OWNER=tester",
			"CODER_WORKSPACE_OWNER_ID="+ownerID,
			"CODER_WORKSPACE_OWNER_NAME=Template Tester",
			"CODER_WORKSPACE_OWNER_EMAIL=tester@example.com",
			coderParameter("region", "eu-west-1"),
			coderParameter("instance_type", "t3.large"),
			coderParameter("disk_size", "50"),
			// Belt and braces with skip_metadata_api_check: no IMDS.
			"AWS_EC2_METADATA_DISABLED=true",
		)
	}
	vars := []string{
		"-var", "ami_id=" + ami,
		"-var", "subnet_id=subnet-0a1b2c3d",
		"-var", `security_group_ids=["sg-0a1b2c3d"]`,
		"-var", "instance_profile=coder-workspace",
	}

	start := time.Now()
	tc.run(ctx, t, dir, env("start"), "init", "-input=false", "-backend=false")
	tc.run(ctx, t, dir, env("start"), "validate")
	t.Logf("init + validate with hashicorp/aws: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	tc.run(ctx, t, dir, env("start"), append([]string{"apply", "-input=false", "-auto-approve", "-target=coder_agent.main"}, vars...)...)

	plan := func(transition string) planJSON {
		t.Helper()
		out := "plan-" + transition
		tc.run(ctx, t, dir, env(transition), append([]string{"plan", "-input=false", "-out=" + out}, vars...)...)
		var p planJSON
		require.NoError(t, json.Unmarshal([]byte(tc.run(ctx, t, dir, env(transition), "show", "-json", out)), &p))
		return p
	}

	p := plan("start")
	agent := p.prior(t, "coder_agent.main")
	initScript, _ := agent["init_script"].(string)
	token, _ := agent["token"].(string)
	require.Equal(t, "#!/bin/sh\ncurl -fsSL 'https://coder.example.com/bin/coder-linux-amd64' -o /tmp/coder # auth token\n", initScript)
	require.NotEmpty(t, token)

	actions, inst := p.change(t, "aws_instance.workspace")
	require.Equal(t, []string{"create"}, actions)
	require.Equal(t, ami, inst["ami"])
	require.Equal(t, "t3.large", inst["instance_type"])
	require.Equal(t, "subnet-0a1b2c3d", inst["subnet_id"])
	require.Equal(t, []any{"sg-0a1b2c3d"}, inst["vpc_security_group_ids"])
	require.Equal(t, "coder-workspace", inst["iam_instance_profile"])
	require.Equal(t, []any{map[string]any{"delete_on_termination": true, "tags": nil, "volume_size": float64(50), "volume_type": "gp3"}}, inst["root_block_device"])
	meta := inst["metadata_options"].([]any)[0].(map[string]any)
	require.Equal(t, "required", meta["http_tokens"], "IMDSv2 only")
	require.Equal(t, map[string]any{
		"Name":               "coder-tester-Dev-1",
		"coder.owner":        "tester",
		"coder.owner_id":     ownerID,
		"coder.workspace_id": workspaceID,
	}, inst["tags"])

	// The user data: the provider plans its SHA-1; the test output holds
	// the text, which must hash to it and carry the agent.
	userData, _ := p.PlannedValues.Outputs["test_user_data"].Value.(string)
	require.NotEmpty(t, userData)
	sum := sha1.Sum([]byte(userData)) //nolint:gosec // matching the provider
	require.Equal(t, hex.EncodeToString(sum[:]), inst["user_data"], "the instance's user data is local.user_data")
	ud := checkUserData(t, userData, "dev-1")
	require.Equal(t, initScript, ud.initScript, "user data runs the coder_agent's init_script")
	require.Equal(t, token, ud.token, "user data sets the coder_agent's token")

	actions, state := p.change(t, "aws_ec2_instance_state.workspace")
	require.Equal(t, []string{"create"}, actions)
	require.Equal(t, "running", state["state"])
	actions, md := p.change(t, "coder_metadata.workspace[0]")
	require.Equal(t, []string{"create"}, actions)
	require.Contains(t, md["item"], map[string]any{"key": "region", "value": "eu-west-1", "sensitive": false})

	// A stop keeps the instance (and its disk), stopped; no metadata.
	p = plan("stop")
	actions, inst = p.change(t, "aws_instance.workspace")
	require.Equal(t, []string{"create"}, actions, "the instance exists while stopped")
	require.Equal(t, ami, inst["ami"])
	_, state = p.change(t, "aws_ec2_instance_state.workspace")
	require.Equal(t, "stopped", state["state"])
	actions, _ = p.change(t, "coder_metadata.workspace[0]")
	require.Nil(t, actions, "no coder_metadata while stopped")
	t.Logf("agent apply + two plans with hashicorp/aws: %s", time.Since(start).Round(time.Millisecond))
}
