package agent

import (
	"os"
	"sort"
)

// tokenEnv is the variable that carries the agent token into `coder agent`.
// Run removes it from the agent's environment, so no process the agent
// starts (each inherits that environment) can read the token.
const tokenEnv = "CODER_AGENT_TOKEN"

// commandEnv is what every user process gets on top of the agent's own
// environment (SSH sessions and terminals, startup and metadata scripts):
// the incumbent's CODER_* variables, PATH with `coder` first,
// GIT_SSH_COMMAND offering the owner's git SSH key, then the template's
// variables, which win over all of these.
func (a *Agent) commandEnv() []string {
	env := []string{
		"CODER=true",
		"CODER_WORKSPACE_NAME=" + a.manifest.WorkspaceName,
		"CODER_WORKSPACE_AGENT_NAME=" + a.manifest.AgentName,
		"CODER_WORKSPACE_OWNER_NAME=" + a.manifest.OwnerUsername,
		"CODER_AGENT_URL=" + a.opts.Client.URL.String(),
		"PATH=" + prependPath(a.binDir, os.Getenv("PATH")),
	}
	if a.binDir != "" {
		// For an image's /etc/profile.d to put it back on PATH after a
		// login shell's /etc/profile resets PATH (Debian's does).
		env = append(env, "CODER_AGENT_BIN_DIR="+a.binDir)
	}
	if cmd := a.gitSSHCommand.Load(); cmd != nil {
		env = append(env, "GIT_SSH_COMMAND="+*cmd)
	}
	keys := make([]string, 0, len(a.manifest.EnvironmentVariables))
	for k := range a.manifest.EnvironmentVariables {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+a.manifest.EnvironmentVariables[k])
	}
	return env
}
