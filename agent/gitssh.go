package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencoder/coder/codersdk"
)

// gitSSHKeyLoop fetches the workspace owner's git SSH key pair (the one
// `coder publickey` shows, to be added to GitHub/GitLab), writes its
// private half to a private file and, from then on, gives every session a
// GIT_SSH_COMMAND offering it: `git clone git@github.com:...` works with no
// setup in the workspace (ssh still tries the user's own keys after it).
// It runs beside the agent's start, never delaying it; the file is removed
// when the agent stops. A key regenerated with `coder publickey --reset`
// reaches the workspace at its next start. Failure is not fatal: git over
// SSH then offers the user's own keys only, and the reason is logged.
func (a *Agent) gitSSHKeyLoop(ctx context.Context) {
	key, err := retry(ctx, a.log, "fetch the git SSH key", func() (codersdk.AgentGitSSHKey, error) {
		return a.opts.Client.AgentGitSSHKey(ctx)
	})
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("git over SSH will not offer the owner's key", "error", err)
		}
		return
	}
	path, remove, err := writeGitSSHKey(key.PrivateKey)
	if err != nil {
		a.log.Warn("git over SSH will not offer the owner's key", "error", err)
		return
	}
	defer remove()
	cmd := gitSSHCommand(path)
	a.gitSSHCommand.Store(&cmd)
	<-ctx.Done()
	a.gitSSHCommand.Store(nil)
}

// writeGitSSHKey stores the private key in a new directory only the
// agent's user can read.
func writeGitSSHKey(privateKey string) (path string, remove func(), err error) {
	if !strings.Contains(privateKey, "PRIVATE KEY") {
		return "", nil, errors.New("the server sent no private key")
	}
	dir, err := os.MkdirTemp("", "coder-agent-gitssh.")
	if err != nil {
		return "", nil, fmt.Errorf("create the git SSH key directory: %w", err)
	}
	path = filepath.Join(dir, "id_ed25519")
	if !strings.HasSuffix(privateKey, "\n") {
		privateKey += "\n" // ssh refuses a key file without the final newline
	}
	if err := os.WriteFile(path, []byte(privateKey), 0o600); err != nil {
		return "", nil, errors.Join(fmt.Errorf("write the git SSH key: %w", err), os.RemoveAll(dir))
	}
	return path, func() { _ = os.RemoveAll(dir) }, nil
}

// gitSSHCommand is GIT_SSH_COMMAND for a key file: ssh offers it first,
// then the user's own keys and ssh config as usual.
func gitSSHCommand(keyPath string) string {
	return "ssh -i '" + strings.ReplaceAll(keyPath, "'", `'\''`) + "'"
}
