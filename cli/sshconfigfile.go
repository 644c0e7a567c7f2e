package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// This file reads and writes the OpenSSH config that `coder config-ssh`
// manages: finding its managed block, replacing it without touching a byte
// outside it, and writing the file atomically.

// sshConfigParts is an OpenSSH config split around its managed block:
// before+block+after is the file, byte for byte. block runs from the start
// of the BEGIN line to the end of the END line (its line ending included);
// without a block, before is the whole file.
type sshConfigParts struct {
	before, block, after string
	found                bool
}

// parseSSHConfig finds the managed block of an OpenSSH config. Unbalanced
// markers are an error: guessing where the block ends could eat the user's
// own lines. A marker is a line that is the marker text, give or take
// surrounding white space (an editor may have indented it, or added \r).
func parseSSHConfig(data []byte) (sshConfigParts, error) {
	lines := strings.SplitAfter(string(data), "\n")
	begin, end := -1, -1
	var nBegin, nEnd int
	for i, l := range lines {
		switch strings.TrimSpace(l) {
		case sshBlockBegin:
			nBegin++
			begin = i
		case sshBlockEnd:
			nEnd++
			end = i
		}
	}
	switch {
	case nBegin == 0 && nEnd == 0:
		return sshConfigParts{before: string(data)}, nil
	case nBegin == 1 && nEnd == 1 && begin < end:
		return sshConfigParts{
			before: strings.Join(lines[:begin], ""),
			block:  strings.Join(lines[begin:end+1], ""),
			after:  strings.Join(lines[end+1:], ""),
			found:  true,
		}, nil
	}
	return sshConfigParts{}, fmt.Errorf("the coder config-ssh markers are unbalanced (%d BEGIN and %d END lines, expected one of each, BEGIN first): "+
		"remove the broken block by hand (the lines between and including the markers), then run 'coder config-ssh' again", nBegin, nEnd)
}

// spliceSSHBlock puts block in place of the managed block of old, or
// appends it (after a blank line) when there is none. Every byte outside
// the block is kept, line endings included.
func spliceSSHBlock(old []byte, block []string) ([]byte, error) {
	parts, err := parseSSHConfig(old)
	if err != nil {
		return nil, err
	}
	text := strings.Join(block, "\n") + "\n"
	if parts.found {
		return []byte(parts.before + text + parts.after), nil
	}
	s := parts.before
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if s != "" && !strings.HasSuffix(s, "\n\n") {
		s += "\n"
	}
	return []byte(s + text), nil
}

// expandHome turns a leading "~/" into the home directory.
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find home directory for %s: %w", p, err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return filepath.Abs(p)
}

// writeSSHConfig replaces path's content atomically (a crash leaves the
// old file or the new one). A symlinked config is written where the link
// points; an existing file keeps its mode, a new one gets 0600 in a
// directory created 0700, as OpenSSH wants.
func writeSSHConfig(path string, data []byte) error {
	mode := os.FileMode(0o600)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".coder-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}
