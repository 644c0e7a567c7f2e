package templates_test

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/templates"
)

// tftplVarRE finds the template variables a .tftpl interpolates.
var tftplVarRE = regexp.MustCompile(`\$\{([a-z_][a-z0-9_]*)\}`)

// TestGCPLinuxTemplate checks the gcp-linux template without the
// hashicorp/google provider, which the offline toolchain cannot build (the
// Go module proxy serves only its 2018 v1.20.0: templates/gcp-linux/README.md).
// So, statically: main.tf hands cloud-init.tftpl exactly the variables it
// uses, from the coder_agent's init_script and token, and puts the result
// in the VM's user-data metadata key; the VM stops with the workspace.
// Then the real tftpl is rendered by Terraform and checked like the AWS
// template's planned user data. TestTerraformValidate adds fmt (and init +
// validate when an operator's mirror holds hashicorp/google).
func TestGCPLinuxTemplate(t *testing.T) {
	t.Parallel()
	tc := requireToolchain(t)
	dir := t.TempDir()
	require.NoError(t, templates.Write("gcp-linux", dir))
	mainTF := string(readFile(t, filepath.Join(dir, "main.tf")))
	tftpl := string(readFile(t, filepath.Join(dir, "cloud-init.tftpl")))
	if tc.inMirror("hashicorp/google") {
		t.Logf("hashicorp/google is in %s: TestTerraformValidate runs init + validate on gcp-linux too", tc.mirror)
	}

	t.Run("wiring", func(t *testing.T) {
		t.Parallel()
		for _, re := range []string{
			`(?s)resource "coder_agent" "main" \{\s*os\s*= "linux"\s*arch\s*= "amd64"`,
			`user_data = templatefile\("\$\{path\.module\}/cloud-init\.tftpl", \{`,
			`\n\s*init_script_b64\s*= base64encode\(coder_agent\.main\.init_script\)\n`,
			`\n\s*agent_token\s*= coder_agent\.main\.token\n`,
			`\n\s*hostname\s*= local\.hostname\n`,
			`(?s)resource "google_compute_instance" "workspace" \{.*\n\s*metadata = \{\s*user-data = local\.user_data\s*\}`,
			`\n\s*desired_status\s*= data\.coder_workspace\.me\.transition == "start" \? "RUNNING" : "TERMINATED"\n`,
			`(?s)boot_disk \{\s*source\s*= google_compute_disk\.root\.name\s*auto_delete = false\s*\}`,
		} {
			require.Regexp(t, re, mainTF)
		}
		// The templatefile call passes exactly what the tftpl interpolates.
		call := regexp.MustCompile(`(?s)templatefile\("\$\{path\.module\}/cloud-init\.tftpl", \{(.*?)\}\)`).FindStringSubmatch(mainTF)
		require.NotNil(t, call)
		var passed, used []string
		for _, m := range regexp.MustCompile(`(?m)^\s*([a-z_][a-z0-9_]*)\s*=`).FindAllStringSubmatch(call[1], -1) {
			passed = append(passed, m[1])
		}
		seen := map[string]bool{}
		for _, m := range tftplVarRE.FindAllStringSubmatch(tftpl, -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				used = append(used, m[1])
			}
		}
		sort.Strings(passed)
		sort.Strings(used)
		require.Equal(t, used, passed, "variables passed to cloud-init.tftpl vs used in it")
	})

	t.Run("same cloud-init as aws-linux", func(t *testing.T) {
		t.Parallel()
		aws := t.TempDir()
		require.NoError(t, templates.Write("aws-linux", aws))
		// One boot recipe for both clouds: a fix to one belongs in both.
		require.Equal(t, string(readFile(t, filepath.Join(aws, "cloud-init.tftpl"))), tftpl,
			"templates/aws-linux/cloud-init.tftpl and templates/gcp-linux/cloud-init.tftpl differ")
	})

	t.Run("render", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		// Quotes and a literal ${...} survive: the script travels base64.
		init := "#!/bin/sh\n# quotes ' \" and ${NOT_EXPANDED}\ncurl -fsSL \"https://coder.example.com/bin/coder-linux-amd64\" -o /tmp/coder\n"
		token := "3f0e0b4c-54c5-4b43-8f0e-3d1c7bde6f2a"
		raw := renderCloudInit(ctx, t, tc, "gcp-linux", map[string]string{
			"hostname":        "dev-1",
			"init_script_b64": base64.StdEncoding.EncodeToString([]byte(init)),
			"agent_token":     token,
		})
		ud := checkUserData(t, raw, "dev-1")
		require.Equal(t, init, ud.initScript)
		require.Equal(t, token, ud.token)
	})
}
