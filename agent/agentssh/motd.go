package agentssh

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// motdMaxBytes caps how much of the MOTD file a login shows (pam_motd's
// limit too): a template pointing at a huge or endless file must not flood
// every login.
const motdMaxBytes = 64 << 10

// loginMOTD is what an interactive SSH login (a terminal and no command,
// as `ssh host` or `coder ssh ws`) shows before the shell starts: the
// template's motd_file (coder_agent), its line feeds made CRLF for the
// client's raw terminal. It is nil when there is no MOTD file, when the
// user has ~/.hushlogin (as login(1) and sshd honour it), and when the
// file cannot be read, which is only logged at debug: a template's MOTD
// must never stand between a user and a shell. home is the session's
// $HOME; "~/" in the path expands to it.
func (sess *session) loginMOTD(home string) []byte {
	path := sess.srv.motd
	if path == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(home, ".hushlogin")); err == nil {
		return nil
	}
	if path == "~" || strings.HasPrefix(path, "~/") {
		path = filepath.Join(home, strings.TrimPrefix(path, "~"))
	}
	// Only a regular file, opened without blocking: a FIFO (or a device)
	// would hold the session's request loop.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		sess.logger.Debug("no motd shown", "file", path, "err", err)
		return nil
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		sess.logger.Debug("no motd shown: not a regular file", "file", path)
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(f, motdMaxBytes))
	if err != nil && !errors.Is(err, io.EOF) {
		sess.logger.Debug("no motd shown", "file", path, "err", err)
		return nil
	}
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// envHome is the last HOME in env (the one a command started with env
// sees), or "" when there is none.
func envHome(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "HOME="); ok {
			return v
		}
	}
	return ""
}
