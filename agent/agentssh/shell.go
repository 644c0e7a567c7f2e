package agentssh

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// fallbackShell is used when the user's login shell cannot be determined.
const fallbackShell = "/bin/sh"

// UserShell returns the login shell of the user running the agent, read from
// /etc/passwd, or /bin/sh when it is unknown or not executable.
func UserShell() string {
	shell, err := passwdShell("/etc/passwd", os.Getuid())
	if err != nil || shell == "" {
		return fallbackShell
	}
	if info, err := os.Stat(shell); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
		return fallbackShell
	}
	return shell
}

// passwdShell returns the shell field of uid's entry in a passwd file.
func passwdShell(path string, uid int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open passwd: %w", err)
	}
	defer f.Close()
	want := strconv.Itoa(uid)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// name:password:uid:gid:gecos:home:shell
		fields := strings.Split(sc.Text(), ":")
		if len(fields) == 7 && fields[2] == want {
			return fields[6], nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read passwd: %w", err)
	}
	return "", fmt.Errorf("uid %d not in %s", uid, path)
}

// homeDir returns the agent user's home directory ($HOME, then passwd).
func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/"
}

// workingDir resolves the configured directory: "~" expands to the home
// directory, and a directory that does not exist falls back to home.
func workingDir(dir string) string {
	home := homeDir()
	switch {
	case dir == "":
		return home
	case dir == "~":
		dir = home
	case strings.HasPrefix(dir, "~/"):
		dir = filepath.Join(home, dir[2:])
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		return home
	}
	return dir
}

// CreateCommand builds the process a session runs, with the server's shell,
// working directory and environment. An empty script starts an interactive
// login shell (argv[0] prefixed with "-", as login(1) and sshd do); otherwise
// the script runs as `SHELL -c SCRIPT`. env is appended last, so it wins over
// the agent's environment and Options.Env. The process is not started, and
// its lifetime is the caller's to manage (use KillGroup to end it).
//
// Reconnecting terminals use this too, so every way into the workspace
// behaves the same.
func (s *Server) CreateCommand(script string, env []string) *exec.Cmd {
	var cmd *exec.Cmd
	if script == "" {
		cmd = exec.Command(s.shell)
		cmd.Args[0] = "-" + filepath.Base(s.shell)
	} else {
		cmd = exec.Command(s.shell, "-c", script)
	}
	cmd.Dir = workingDir(s.dir)
	cmd.Env = s.baseEnv(env)
	return cmd
}

// baseEnv is the environment of every command: the agent's own, the user
// identity variables a login would set, Options.Env, then extra.
func (s *Server) baseEnv(extra []string) []string {
	env := os.Environ()
	home := homeDir()
	env = append(env, "HOME="+home, "SHELL="+s.shell)
	if u, err := user.Current(); err == nil {
		env = append(env, "USER="+u.Username, "LOGNAME="+u.Username)
	}
	if s.envFunc != nil {
		env = append(env, s.envFunc()...)
	}
	return append(env, extra...)
}
