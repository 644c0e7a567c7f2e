package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opencoder/coder/codersdk"
)

// The managed block of an OpenSSH config: everything between these two
// lines belongs to `coder config-ssh`; nothing outside them is touched.
const (
	sshBlockBegin = "# ------------ coder config-ssh: BEGIN managed block ------------"
	sshBlockEnd   = "# ------------- coder config-ssh: END managed block -------------"
)

// configSSHOptions are the flags of `coder config-ssh`.
type configSSHOptions struct {
	yes, dryRun bool
	file        string
	prefix      string
	sshOptions  []string
	binaryPath  string
}

func (r *Root) configSSHCmd() *cobra.Command {
	var o configSSHOptions
	cmd := &cobra.Command{
		Use:   "config-ssh",
		Short: "Add a Host entry for each of your workspaces to your OpenSSH config",
		Long: `Write one "Host <prefix><workspace>" entry per workspace you own (and
"<prefix><workspace>.<agent>" ones for workspaces with several agents) into a
block of your OpenSSH config that this command manages, so 'ssh', 'scp',
'rsync' and editors' remote-SSH extensions reach workspaces through
'coder ssh --stdio'. Lines outside the block are never changed. Run it again
after creating or deleting workspaces; a run that changes nothing says so.`,
		Example: "  coder config-ssh -y && ssh coder.dev\n  coder config-ssh --dry-run\n  coder config-ssh --ssh-config-file ~/.ssh/coder.conf --ssh-option 'ForwardAgent yes'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return r.runConfigSSH(cmd, o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation on a terminal.")
	fs.BoolVar(&o.dryRun, "dry-run", false, "Print the changes as a diff and write nothing.")
	flagString(fs, r.Getenv, &o.file, "ssh-config-file", "CODER_SSH_CONFIG_FILE", "~/.ssh/config", "The OpenSSH config file to update.")
	flagString(fs, r.Getenv, &o.prefix, "ssh-host-prefix", "CODER_CONFIGSSH_SSH_HOST_PREFIX", "coder.", "Prefix of the Host names (the workspace name follows).")
	withShorthand(fs, "o", func(fs *pflag.FlagSet) {
		flagStringArray(fs, r.Getenv, &o.sshOptions, "ssh-option", "CODER_SSH_CONFIG_OPTS", `Extra OpenSSH option for every entry, as "Key value" or "Key=value" (repeatable).`)
	})
	flagString(fs, r.Getenv, &o.binaryPath, "coder-binary-path", "CODER_SSH_CONFIG_BINARY_PATH", "", "The coder binary the ProxyCommand runs (default: this one).")
	_ = fs.MarkHidden("coder-binary-path")
	return cmd
}

func (r *Root) runConfigSSH(cmd *cobra.Command, o configSSHOptions) error {
	ctx := cmd.Context()
	if o.prefix == "" || strings.ContainsAny(o.prefix, " \t*?!,%") {
		return fmt.Errorf("--ssh-host-prefix %q: must be non-empty, without spaces or OpenSSH pattern characters", o.prefix)
	}
	extra, err := parseSSHOptions(o.sshOptions)
	if err != nil {
		return err
	}
	path, err := expandHome(o.file)
	if err != nil {
		return err
	}
	bin := o.binaryPath
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return fmt.Errorf("find this binary's path for the ProxyCommand (pass --coder-binary-path): %w", err)
		}
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return fmt.Errorf("absolute binary path: %w", err)
	}
	cfgDir, err := filepath.Abs(r.configDir)
	if err != nil {
		return fmt.Errorf("absolute config dir: %w", err)
	}
	client, err := r.client()
	if err != nil {
		return err
	}
	res, err := client.Workspaces(ctx, codersdk.WorkspaceFilter{Owner: codersdk.Me})
	if err != nil {
		return wrapAPI("list your workspaces", err)
	}

	hosts := sshHosts(res.Workspaces, o.prefix)
	block := sshConfigBlock(hosts, sshProxyCommand(bin, cfgDir), extra, client.URL.String())
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	updated, err := spliceSSHBlock(old, block)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if string(updated) == string(old) {
		fmt.Fprintf(r.Stdout, "No changes to make: %s is up to date (%d host%s).\n", path, len(hosts), plural(len(hosts)))
		return nil
	}
	diff := unifiedDiff(path, path+" (new)", splitLines(string(old)), splitLines(string(updated)))
	if o.dryRun {
		fmt.Fprint(r.Stdout, diff)
		fmt.Fprintf(r.Stderr, "Dry run: %s was not changed.\n", path)
		return nil
	}
	in := newPrompter(r.Stdin, r.Stderr)
	if !o.yes && in.interactive() {
		fmt.Fprint(r.Stdout, diff)
	}
	if err := r.confirm(in, o.yes, false, fmt.Sprintf("Update %s?", path)); err != nil {
		return err
	}
	if err := writeSSHConfig(path, updated); err != nil {
		return err
	}
	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.name
	}
	fmt.Fprintf(r.Stdout, "Updated %s: %d host%s", path, len(hosts), plural(len(hosts)))
	if len(names) > 0 {
		fmt.Fprintf(r.Stdout, " (%s).\nYou can now run 'ssh %s'.\n", strings.Join(names, ", "), names[0])
	} else {
		fmt.Fprint(r.Stdout, ".\n")
	}
	if s, _ := r.config().read("session"); s == "" {
		fmt.Fprintf(r.Stderr, "Note: the ProxyCommand uses the session saved in %s; run 'coder login' so there is one.\n", cfgDir)
	}
	return nil
}

// sshHost is one Host entry: name is the Host pattern, target what
// `coder ssh --stdio` connects to.
type sshHost struct{ name, target string }

// sshHosts lists one entry per workspace, plus one per agent for
// workspaces with several, sorted by name.
func sshHosts(wss []codersdk.Workspace, prefix string) []sshHost {
	var out []sshHost
	for _, ws := range wss {
		out = append(out, sshHost{name: prefix + ws.Name, target: ws.Name})
		var agents []string
		for _, res := range ws.LatestBuild.Resources {
			for _, a := range res.Agents {
				agents = append(agents, a.Name)
			}
		}
		if len(agents) > 1 {
			for _, a := range agents {
				out = append(out, sshHost{name: prefix + ws.Name + "." + a, target: ws.Name + "." + a})
			}
		}
	}
	slices.SortFunc(out, func(a, b sshHost) int { return strings.Compare(a.name, b.name) })
	return out
}

// sshProxyCommand is the ProxyCommand prefix; the target follows. OpenSSH
// runs it with /bin/sh after expanding %-tokens, so words are quoted for
// the shell and '%' is doubled.
func sshProxyCommand(bin, cfgDir string) string {
	q := func(s string) string { return strings.ReplaceAll(shellQuote(s), "%", "%%") }
	return q(bin) + " --global-config " + q(cfgDir) + " ssh --stdio"
}

// sshConfigBlock renders the managed block, markers included.
func sshConfigBlock(hosts []sshHost, proxy string, extra []string, deployment string) []string {
	lines := []string{
		sshBlockBegin,
		"# Written by 'coder config-ssh' for " + deployment + ".",
		"# Run it again to update this block; edits between the markers are overwritten.",
	}
	if len(hosts) == 0 {
		lines = append(lines, "# You have no workspaces yet.")
	}
	for _, h := range hosts {
		lines = append(lines, "",
			"Host "+h.name,
			"  ConnectTimeout 0",
			"  StrictHostKeyChecking no",
			"  UserKnownHostsFile /dev/null",
			"  LogLevel ERROR",
		)
		for _, e := range extra {
			lines = append(lines, "  "+e)
		}
		lines = append(lines, "  ProxyCommand "+proxy+" "+strings.ReplaceAll(shellQuote(h.target), "%", "%%"))
	}
	return append(lines, "", sshBlockEnd)
}

// parseSSHOptions normalizes --ssh-option values to "Key value".
func parseSSHOptions(opts []string) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		o = strings.TrimSpace(o)
		i := strings.IndexAny(o, " \t=")
		if i <= 0 || strings.TrimSpace(strings.TrimLeft(o[i:], " \t=")) == "" || strings.ContainsAny(o, "\n\r") {
			return nil, fmt.Errorf("--ssh-option %q: want \"Key value\" or \"Key=value\"", o)
		}
		out = append(out, o[:i]+" "+strings.TrimSpace(strings.TrimLeft(o[i:], " \t=")))
	}
	return out, nil
}
