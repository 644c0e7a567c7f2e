// Package cli is the `coder` command line: cobra commands, one file per
// command group. It holds no business logic; it talks to coderd only through
// codersdk, and wires the server, provisioner and agent roles together.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// Env var names shared by several commands.
const (
	envURL          = "CODER_URL"
	envSessionToken = "CODER_SESSION_TOKEN"
	envConfigDir    = "CODER_CONFIG_DIR"
)

// Root holds what every command shares: global flags and I/O.
type Root struct {
	// Set at construction.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv in main; tests inject).
	Getenv func(string) string

	// Global flags.
	urlFlag   string
	token     string
	configDir string
}

// New builds the command tree.
func New(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	r := &Root{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: getenv}
	cmd := &cobra.Command{
		Use:           "coder",
		Short:         "Self-hosted remote development workspaces",
		Long:          "coder runs the server (coderd), provisioner daemons and workspace agents, and is the client for all of them.\nStart with 'coder server', then 'coder login URL'.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetIn(stdin)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	fs := cmd.PersistentFlags()
	flagString(fs, getenv, &r.urlFlag, "url", envURL, "", "URL of the deployment; overrides the one saved by 'coder login'.")
	flagString(fs, getenv, &r.token, "token", envSessionToken, "", "Session or API token; overrides the one saved by 'coder login'.")
	flagString(fs, getenv, &r.configDir, "global-config", envConfigDir, defaultConfigDir(), "Directory where the CLI keeps its session (and the server its data, unless --config-dir or $"+envServerConfigDir+").")
	cmd.AddCommand(
		r.serverCmd(),
		r.loginCmd(),
		r.logoutCmd(),
		r.whoamiCmd(),
		r.usersCmd(),
		r.tokensCmd(),
		r.publickeyCmd(),
		r.versionCmd(),
		r.agentCmd(),
		r.templatesCmd(),
		r.createCmd(),
		r.listCmd(),
		r.showCmd(),
		r.startCmd(),
		r.stopCmd(),
		r.restartCmd(),
		r.updateCmd(),
		r.stateCmd(),
		r.deleteCmd(),
		r.cancelCmd(),
		r.logsCmd(),
		r.provisionerCmd(),
		r.sshCmd(),
		r.configSSHCmd(),
		r.portForwardCmd(),
		r.pingCmd(),
		r.speedtestCmd(),
		r.statCmd(),
		r.scheduleCmd(),
		r.replicasCmd(),
	)
	return cmd
}

// Main runs the CLI and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	ctx = withMainStart(ctx, time.Now())
	return exitCode(execute(ctx, args, stdin, stdout, stderr, getenv), stderr)
}

// execute runs the command tree on args and returns the command's error.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	cmd := New(stdin, stdout, stderr, getenv)
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}

// exitCode is the process exit code for a command's error, printing the
// error (see renderError) unless it is an exitError.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	fmt.Fprintf(stderr, "error: %s\n", renderError(err))
	return 1
}

func defaultConfigDir() string {
	if d, err := os.UserConfigDir(); err == nil {
		return filepath.Join(d, "coderv2")
	}
	return filepath.Join(os.TempDir(), "coderv2")
}

// config is the CLI's state on disk.
func (r *Root) config() configDir { return configDir(r.configDir) }

// client returns an authenticated client from flags, env or the saved
// session, with a clear error telling the user to log in when there is none.
func (r *Root) client() (*codersdk.Client, error) {
	u, err := r.deploymentURL()
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, errors.New("you are not logged in: run 'coder login <url>' (or set CODER_URL and CODER_SESSION_TOKEN)")
	}
	token := r.token
	if token == "" {
		token, _ = r.config().read("session")
	}
	if token == "" {
		return nil, fmt.Errorf("you are not logged in to %s: run 'coder login %s'", u, u)
	}
	c := codersdk.New(u)
	c.SetSessionToken(token)
	return c, nil
}

// deploymentURL is the deployment's URL from --url (or CODER_URL), else
// the one saved by 'coder login'; nil when there is neither.
func (r *Root) deploymentURL() (*url.URL, error) {
	raw := r.urlFlag
	if raw == "" {
		raw, _ = r.config().read("url")
	}
	if raw == "" {
		return nil, nil
	}
	return parseURL(raw)
}

func parseURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("url %q: scheme must be http or https", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("url %q has no host", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// configDir reads and writes the CLI's files (url, session).
type configDir string

func (d configDir) read(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(string(d), name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func (d configDir) write(name, value string) error {
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return fmt.Errorf("create config dir: %w", err)
	}
	// Write then rename, so a crash never leaves a half-written session.
	tmp := filepath.Join(string(d), "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(value), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(string(d), name)); err != nil {
		return fmt.Errorf("save %s: %w", name, err)
	}
	return nil
}

func (d configDir) remove(name string) error {
	err := os.Remove(filepath.Join(string(d), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
