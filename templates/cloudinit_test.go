package templates_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/opencoder/coder/templates"
)

// The lines of the cloud VM templates' shell part (cloud-init.tftpl) that
// carry the agent's init script and token into the VM.
var (
	initScriptRE = regexp.MustCompile(`(?m)^echo '([A-Za-z0-9+/=]*)' \| base64 -d > /opt/coder/init$`)
	agentTokenRE = regexp.MustCompile(`(?m)^printf 'CODER_AGENT_TOKEN=%s\\n' '([^']*)' > /opt/coder/agent\.env$`)
)

// userData is what checkUserData found in a cloud VM's user data.
type userData struct {
	cloudConfig struct {
		Hostname          string  `yaml:"hostname"`
		CloudFinalModules [][]any `yaml:"cloud_final_modules"`
		Users             []struct {
			Name  string `yaml:"name"`
			Sudo  string `yaml:"sudo"`
			Shell string `yaml:"shell"`
		} `yaml:"users"`
	}
	script     string // the shell part
	initScript string // decoded from the shell part
	token      string
}

// checkUserData parses the user data the aws-linux and gcp-linux templates
// render from cloud-init.tftpl (a MIME multipart with a cloud-config and a
// shell script, the format cloud-init reads on both clouds) and checks
// what makes the agent start on every boot: the coder user, the per-boot
// rerun of the script, and a systemd service running the decoded init
// script as coder with the token in its environment.
func checkUserData(t *testing.T, raw, hostname string) userData {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	require.NoError(t, err, "user data is not a MIME message:\n%s", raw)
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/mixed", mediaType)

	var ud userData
	var types []string
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(part)
		require.NoError(t, err)
		ct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		types = append(types, ct)
		switch ct {
		case "text/cloud-config":
			require.True(t, bytes.HasPrefix(body, []byte("#cloud-config\n")), "cloud-config part starts with #cloud-config:\n%s", body)
			require.NoError(t, yaml.Unmarshal(body, &ud.cloudConfig), "cloud-config:\n%s", body)
		case "text/x-shellscript":
			ud.script = string(body)
		}
	}
	require.Equal(t, []string{"text/cloud-config", "text/x-shellscript"}, types)

	cc := ud.cloudConfig
	require.Equal(t, hostname, cc.Hostname)
	require.Contains(t, cc.CloudFinalModules, []any{"scripts-user", "always"}, "the script reruns on every boot (a new token at each start)")
	require.Len(t, cc.Users, 1)
	require.Equal(t, "coder", cc.Users[0].Name)
	require.Equal(t, "/bin/bash", cc.Users[0].Shell)

	require.True(t, strings.HasPrefix(ud.script, "#!/bin/sh\n"), "shell part:\n%s", ud.script)
	// POSIX sh syntax, as the VM's /bin/sh (dash on Ubuntu) reads it.
	cmd := exec.Command("sh", "-n")
	cmd.Stdin = strings.NewReader(ud.script)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "sh -n: %s\n%s", out, ud.script)

	m := initScriptRE.FindStringSubmatch(ud.script)
	require.NotNil(t, m, "the shell part writes the init script to /opt/coder/init:\n%s", ud.script)
	decoded, err := base64.StdEncoding.DecodeString(m[1])
	require.NoError(t, err)
	ud.initScript = string(decoded)
	m = agentTokenRE.FindStringSubmatch(ud.script)
	require.NotNil(t, m, "the shell part writes CODER_AGENT_TOKEN to /opt/coder/agent.env:\n%s", ud.script)
	ud.token = m[1]
	// Whole lines (multipart drops the newline before the boundary).
	lines := strings.Split(ud.script, "\n")
	for _, line := range []string{
		"User=coder",
		"EnvironmentFile=/opt/coder/agent.env",
		"ExecStart=/opt/coder/init",
		"Restart=always",
		"systemctl enable coder-agent.service",
		"systemctl restart coder-agent.service",
	} {
		require.Contains(t, lines, line)
	}
	return ud
}

// renderCloudInit renders a template's cloud-init.tftpl with Terraform's
// own templatefile, in a configuration without providers (nothing to
// install), and returns the result.
func renderCloudInit(ctx context.Context, t *testing.T, tc toolchain, templateID string, vars map[string]string) string {
	t.Helper()
	src := t.TempDir()
	require.NoError(t, templates.Write(templateID, src))
	dir := t.TempDir()
	write(t, filepath.Join(dir, "cloud-init.tftpl"), string(readFile(t, filepath.Join(src, "cloud-init.tftpl"))))
	write(t, filepath.Join(dir, "main.tf"), `variable "vars" {
  type = map(string)
}

output "user_data" {
  value = templatefile("${path.module}/cloud-init.tftpl", var.vars)
}
`)
	varsJSON, err := json.Marshal(vars)
	require.NoError(t, err)
	env := tc.env("TF_VAR_vars=" + string(varsJSON))
	tc.run(ctx, t, dir, env, "init", "-input=false", "-backend=false")
	tc.run(ctx, t, dir, env, "apply", "-input=false", "-auto-approve")
	var out string
	require.NoError(t, json.Unmarshal([]byte(tc.run(ctx, t, dir, env, "output", "-json", "user_data")), &out))
	return out
}
