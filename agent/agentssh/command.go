package agentssh

import (
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strings"

	"github.com/opencoder/coder/agent/agentexec"
)

// CreateCommand builds the process a session runs, with the server's shell,
// working directory and environment. An empty script starts an interactive
// login shell (argv[0] prefixed with "-", as login(1) and sshd do); otherwise
// the script runs as `SHELL -c SCRIPT`. env is appended last, so it wins over
// the agent's environment and Options.Env. The process is not started, and
// its lifetime is the caller's to manage (agentexec.Process ends it).
//
// Reconnecting terminals use this too, so every way into the workspace
// behaves the same.
func (s *Server) CreateCommand(script string, env []string) *exec.Cmd {
	cmd := agentexec.ShellCommand(s.shell, script)
	cmd.Dir = agentexec.WorkingDir(s.dir)
	cmd.Env = s.baseEnv(env)
	return cmd
}

// baseEnv is the environment of every command: the agent's own (less the
// agent token, should it still be there), the user identity variables a
// login would set, Options.Env, then extra.
func (s *Server) baseEnv(extra []string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "CODER_AGENT_TOKEN=")
	})
	home := agentexec.HomeDir()
	env = append(env, "HOME="+home, "SHELL="+s.shell)
	if u, err := user.Current(); err == nil {
		env = append(env, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	if s.envFunc != nil {
		env = append(env, s.envFunc()...)
	}
	return append(env, extra...)
}
