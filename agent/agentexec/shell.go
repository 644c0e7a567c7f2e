package agentexec

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

// HomeDir returns the agent user's home directory ($HOME, then passwd).
func HomeDir() string {
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return h
	}
	if u, err := user.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	return "/"
}

// WorkingDir resolves the configured directory: "~" expands to the home
// directory, and a directory that does not exist falls back to home.
func WorkingDir(dir string) string {
	home := HomeDir()
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

// ShellCommand returns the (unstarted) command that runs script with shell:
// an empty script starts an interactive login shell (argv[0] prefixed with
// "-", as login(1) and sshd do); otherwise `SHELL -c SCRIPT`.
func ShellCommand(shell, script string) *exec.Cmd {
	if script == "" {
		cmd := exec.Command(shell)
		cmd.Args[0] = "-" + filepath.Base(shell)
		return cmd
	}
	return exec.Command(shell, "-c", script)
}
