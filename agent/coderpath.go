package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// installCoderShim makes a private directory holding one symlink, "coder",
// to exe (the agent's own binary, whatever its file is called) and returns
// it. Every process the agent starts has this directory first on its PATH,
// so templates written for the incumbent find `coder` (`coder stat` in
// metadata scripts, `coder` in startup scripts and shells). remove deletes
// it when the agent stops.
func installCoderShim(exe string) (dir string, remove func(), err error) {
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", nil, fmt.Errorf("find the agent's binary: %w", err)
		}
	}
	if !filepath.IsAbs(exe) {
		if exe, err = filepath.Abs(exe); err != nil {
			return "", nil, fmt.Errorf("coder binary path: %w", err)
		}
	}
	// The symlink must survive the binary being replaced by an upgrade of
	// the same path, but not point at a deleted file: resolve links once.
	if resolved, rerr := filepath.EvalSymlinks(exe); rerr == nil {
		exe = resolved
	}
	dir, err = os.MkdirTemp("", "coder-agent-bin.")
	if err != nil {
		return "", nil, fmt.Errorf("create the coder PATH directory: %w", err)
	}
	if err := os.Symlink(exe, filepath.Join(dir, "coder")); err != nil {
		return "", nil, errors.Join(fmt.Errorf("link coder into %s: %w", dir, err), os.RemoveAll(dir))
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// prependPath puts dir first on the PATH list path (the agent's own PATH,
// or a sane default when it has none).
func prependPath(dir, path string) string {
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	if dir == "" {
		return path
	}
	return dir + string(os.PathListSeparator) + path
}
