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
		return fmt.Errorf("list your workspaces: %w", err)
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
	if in := newPrompter(r.Stdin, r.Stderr); !o.yes && in.interactive() {
		fmt.Fprint(r.Stdout, diff)
		answer, err := in.line(fmt.Sprintf("Update %s? [y/N] ", path))
		if err != nil {
			return err
		}
		if a := strings.ToLower(answer); a != "y" && a != "yes" {
			return errors.New("canceled: nothing was changed")
		}
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

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
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

// spliceSSHBlock puts block in place of the managed block of old, or
// appends it (after a blank line) when there is none. Every byte outside
// the block is kept, line endings included. Unbalanced markers are an
// error: guessing where the block ends could eat the user's own lines.
func spliceSSHBlock(old []byte, block []string) ([]byte, error) {
	lines := strings.SplitAfter(string(old), "\n")
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
	text := strings.Join(block, "\n") + "\n"
	switch {
	case nBegin == 0 && nEnd == 0:
		s := string(old)
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		if s != "" && !strings.HasSuffix(s, "\n\n") {
			s += "\n"
		}
		return []byte(s + text), nil
	case nBegin == 1 && nEnd == 1 && begin < end:
		var b strings.Builder
		for _, l := range lines[:begin] {
			b.WriteString(l)
		}
		b.WriteString(text)
		for _, l := range lines[end+1:] {
			b.WriteString(l)
		}
		return []byte(b.String()), nil
	}
	return nil, fmt.Errorf("the coder config-ssh markers are unbalanced (%d BEGIN and %d END lines, expected one of each, BEGIN first): "+
		"remove the broken block by hand (the lines between and including the markers), then run 'coder config-ssh' again", nBegin, nEnd)
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

// splitLines splits text into lines without their line endings.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// unifiedDiff renders the change from a to b as a unified diff with three
// lines of context. The lines both share at the start and the end are
// skipped before the (quadratic) longest-common-subsequence step, so a
// large config with a small block diffs quickly.
func unifiedDiff(nameA, nameB string, a, b []string) string {
	ops := diffLines(a, b)
	const context = 3
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", nameA, nameB)
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		// A hunk: from context lines before this change to context lines
		// after the last change closer than 2*context to the previous one.
		start := max(0, i-context)
		end := i
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j
			} else if j-end > 2*context {
				break
			}
		}
		stop := min(len(ops), end+context+1)
		aStart, bStart := ops[start].a, ops[start].b
		var aLen, bLen int
		for _, op := range ops[start:stop] {
			if op.kind != '+' {
				aLen++
			}
			if op.kind != '-' {
				bLen++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
		for _, op := range ops[start:stop] {
			fmt.Fprintf(&out, "%c%s\n", op.kind, op.line)
		}
		i = stop
	}
	return out.String()
}

// hunkRange formats a hunk's "start,length" (start is 1-based; an empty
// range names the line before it, as diff does).
func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}

// diffOp is one line of an edit script: ' ' kept, '-' removed, '+' added;
// a and b are the 0-based positions in each side before this line.
type diffOp struct {
	kind byte
	line string
	a, b int
}

// maxDiffCells bounds the LCS table; past it the middle part is shown as
// removed then added, which is still a correct diff.
const maxDiffCells = 4 << 20

func diffLines(a, b []string) []diffOp {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	ops := make([]diffOp, 0, len(a)+len(b))
	for i := range pre {
		ops = append(ops, diffOp{' ', a[i], i, i})
	}
	ai, bi := pre, pre
	emit := func(kind byte, line string) {
		ops = append(ops, diffOp{kind, line, ai, bi})
		if kind != '+' {
			ai++
		}
		if kind != '-' {
			bi++
		}
	}
	if (len(ma)+1)*(len(mb)+1) > maxDiffCells {
		for _, l := range ma {
			emit('-', l)
		}
		for _, l := range mb {
			emit('+', l)
		}
	} else {
		// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
		w := len(mb) + 1
		lcs := make([]int, (len(ma)+1)*w)
		for i := len(ma) - 1; i >= 0; i-- {
			for j := len(mb) - 1; j >= 0; j-- {
				if ma[i] == mb[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(ma) || j < len(mb) {
			switch {
			case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
				emit(' ', ma[i])
				i++
				j++
			case i < len(ma) && (j == len(mb) || lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				emit('-', ma[i]) // removals first, as diff prints them
				i++
			default:
				emit('+', mb[j])
				j++
			}
		}
	}
	for k := len(a) - suf; k < len(a); k++ {
		emit(' ', a[k])
	}
	return ops
}
