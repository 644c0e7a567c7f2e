package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/provisionerd/terraform"
)

// Env twins of `coder provisioner start`'s flags.
const (
	envProvisionerKey  = "CODER_PROVISIONER_DAEMON_KEY"
	envProvisionerPSK  = "CODER_PROVISIONER_DAEMON_PSK"
	envProvisionerTags = "CODER_PROVISIONER_DAEMON_TAGS"
)

// defaultProvisionerShutdownGrace is how long `coder provisioner start`
// lets running builds finish after SIGINT/SIGTERM. Ten minutes covers most
// Terraform applies (creating a VM, pulling an image), so a rolling restart
// rarely fails a build; operators on platforms with a shorter kill timeout
// (Kubernetes' terminationGracePeriodSeconds) set it below that.
const defaultProvisionerShutdownGrace = 10 * time.Minute

func (r *Root) provisionerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "provisioner",
		Aliases: []string{"provisioners"},
		Short:   "Run and manage provisioner daemons, the workers that run template Terraform",
	}
	cmd.AddCommand(r.provisionerStartCmd(), r.provisionerListCmd(), r.provisionerKeysCmd())
	return cmd
}

// provisionerStartOptions are `coder provisioner start`'s flags.
type provisionerStartOptions struct {
	key, psk         string
	tags             []string
	name             string
	concurrency      int
	terraformPath    string
	installTerraform bool
	cacheDir         string
	providerMirror   string
	passEnv          []string
	shutdownGrace    time.Duration
	interruptGrace   time.Duration
	logFormat        string
	verbose          bool
}

func (r *Root) provisionerStartCmd() *cobra.Command {
	var o provisionerStartOptions
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run a provisioner daemon: take build jobs from coderd and run them with Terraform",
		Long: "Run a provisioner daemon. It connects to the deployment (--url, or the one saved by 'coder login'),\n" +
			"authenticated by a provisioner key (--key), the server's pre-shared key (--psk), or the session of an\n" +
			"owner or template admin, and runs the jobs whose tags it matches.\n\n" +
			"On SIGINT or SIGTERM it stops taking jobs and lets running ones finish for --shutdown-grace; then, or\n" +
			"on a second signal, Terraform is interrupted and the jobs are reported failed (their partial state is\n" +
			"kept). A third signal exits at once.",
		Example: "  coder provisioner keys create gpu-fleet --tag gpu=true\n" +
			"  CODER_PROVISIONER_DAEMON_KEY=... coder provisioner start --url https://coder.example.com\n" +
			"  coder provisioner start --psk \"$PSK\" --tag region=eu --concurrency 4 --provider-mirror /srv/tf-mirror",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return r.runProvisionerStart(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	g := r.Getenv
	flagString(fs, g, &o.key, "key", envProvisionerKey, "", "Provisioner key to authenticate with (see 'coder provisioner keys create'); the daemon takes the key's tags.")
	flagString(fs, g, &o.psk, "psk", envProvisionerPSK, "", "The server's pre-shared key for provisioner daemons (its --provisioner-daemon-psk).")
	flagStringArray(fs, g, &o.tags, "tag", envProvisionerTags, "Tag key=value, repeatable (comma-separated in the env var): the daemon runs only jobs whose tags it all has.")
	flagString(fs, g, &o.name, "name", "CODER_PROVISIONER_DAEMON_NAME", "", "Name shown in 'coder provisioner list' and in build logs (default: the hostname).")
	flagInt(fs, g, &o.concurrency, "concurrency", "CODER_PROVISIONER_DAEMON_CONCURRENCY", 1, "How many jobs to run at once.")
	flagString(fs, g, &o.terraformPath, "terraform-path", "CODER_PROVISIONER_DAEMON_TERRAFORM_PATH", "", "Terraform (or OpenTofu) binary (default: terraform, then tofu, on PATH).")
	flagBool(fs, g, &o.installTerraform, "install-terraform", "CODER_PROVISIONER_DAEMON_INSTALL_TERRAFORM", true, "Download Terraform into --cache-dir when none is found (needs releases.hashicorp.com).")
	flagString(fs, g, &o.cacheDir, "cache-dir", "CODER_PROVISIONER_DAEMON_CACHE_DIR", defaultProvisionerCacheDir(), "Directory for the provider plugin cache, downloaded Terraform and job work directories.")
	flagString(fs, g, &o.providerMirror, "provider-mirror", "CODER_PROVISIONER_DAEMON_PROVIDER_MIRROR", "", "Terraform filesystem mirror (HOST/NAMESPACE/TYPE/VERSION/OS_ARCH/...) to install every provider from, for air-gapped sites.")
	flagStringArray(fs, g, &o.passEnv, "pass-env", "CODER_PROVISIONER_DAEMON_PASS_ENV", "Extra environment variable to give Terraform, repeatable; a trailing _ or * makes it a prefix. Cloud credential prefixes (AWS_, GOOGLE_, ARM_, ...) pass already; CODER_* never do.")
	flagDuration(fs, g, &o.shutdownGrace, "shutdown-grace", "CODER_PROVISIONER_DAEMON_SHUTDOWN_GRACE", defaultProvisionerShutdownGrace, "On SIGINT/SIGTERM, how long running jobs may finish before Terraform is interrupted.")
	flagDuration(fs, g, &o.interruptGrace, "interrupt-grace", "CODER_PROVISIONER_DAEMON_INTERRUPT_GRACE", terraform.DefaultInterruptGrace, "After an interrupt (cancel, shutdown), how long Terraform may take to stop and save its state before it is killed.")
	flagString(fs, g, &o.logFormat, "log-format", "CODER_LOG_FORMAT", "human", "Log format: human or json.")
	flagBool(fs, g, &o.verbose, "verbose", "CODER_VERBOSE", false, "Log debug messages.")
	return cmd
}

func defaultProvisionerCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "coder", "provisioner")
	}
	return filepath.Join(os.TempDir(), "coder-provisioner")
}

func (r *Root) runProvisionerStart(ctx context.Context, o provisionerStartOptions) error {
	tags, err := parseProvisionerTags(o.tags)
	if err != nil {
		return err
	}
	if o.concurrency < 1 {
		return fmt.Errorf("--concurrency %d: must be at least 1", o.concurrency)
	}
	logger, err := provisionerLogger(o.logFormat, o.verbose, r.Stderr)
	if err != nil {
		return err
	}
	client, err := r.provisionerDaemonClient(o.key, o.psk)
	if err != nil {
		return err
	}
	if o.name == "" {
		if o.name, err = os.Hostname(); err != nil || o.name == "" {
			o.name = "provisioner"
		}
	}

	// Terraform gets a SIGINT on cancel and interruptGrace to stop; the
	// daemon waits that long (plus a margin) for the partial state.
	runner, err := provisionerd.NewTerraformRunner(ctx, terraform.Options{
		TerraformPath:  o.terraformPath,
		InstallOnline:  o.installTerraform,
		CacheDir:       o.cacheDir,
		ProviderMirror: o.providerMirror,
		InterruptGrace: o.interruptGrace,
		PassEnv:        o.passEnv,
		Logger:         logger.With(slog.String("component", "terraform")),
	})
	if err != nil {
		return fmt.Errorf("prepare terraform: %w", err)
	}
	d := provisionerd.New(client, provisionerd.Options{
		Name:        o.name,
		Tags:        tags,
		Concurrency: o.concurrency,
		Runner:      runner,
		Logger:      logger,
	})

	// Signals: the first drains, the second interrupts the jobs, the third
	// exits at once. The command's context ending counts as a first signal.
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	d.Start()
	fmt.Fprintf(r.Stderr, "Provisioner %s started; waiting for jobs (tags: %s)\n", o.name, describeDaemonTags(tags, o.key != ""))
	fmt.Fprintf(r.Stderr, "Using %s; cache in %s\n", runner, o.cacheDir)

	select {
	case <-d.Done():
		_ = d.Close()
		if err := d.Err(); err != nil {
			return err
		}
		return nil
	case <-ctx.Done():
	case <-sigs:
	}
	fmt.Fprintf(r.Stderr, "\nShutting down: waiting up to %s for %d running job(s). Press Ctrl+C again to interrupt them.\n", o.shutdownGrace, d.Stats().Running)
	sctx, interrupt := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownGrace)
	defer interrupt()
	shutdown := make(chan error, 1)
	go func() { shutdown <- d.Shutdown(sctx) }()
	for interrupts := 0; ; {
		select {
		case err := <-shutdown:
			if errors.Is(err, context.DeadlineExceeded) {
				fmt.Fprintln(r.Stderr, "The shutdown grace period ran out: running jobs were interrupted and reported failed.")
			}
			fmt.Fprintln(r.Stderr, "Stopped.")
			return nil
		case <-sigs:
			interrupts++
			if interrupts >= 2 {
				fmt.Fprintln(r.Stderr, "Exiting without waiting for the jobs' reports; coderd will fail them once their heartbeats stop.")
				return &exitError{code: 1}
			}
			fmt.Fprintln(r.Stderr, "Interrupting running jobs (Terraform gets an interrupt and saves its state). Press Ctrl+C again to exit at once.")
			interrupt()
		}
	}
}

// provisionerDaemonClient authenticates as a daemon: with a provisioner
// key, the pre-shared key, or (neither given) the user's session.
func (r *Root) provisionerDaemonClient(key, psk string) (*codersdk.Client, error) {
	if key != "" && psk != "" {
		return nil, errors.New("give either --key or --psk, not both")
	}
	if key == "" && psk == "" {
		c, err := r.client()
		if err != nil {
			return nil, fmt.Errorf("%w\n(a daemon may instead authenticate with --key or --psk)", err)
		}
		return c, nil
	}
	rawURL := r.urlFlag
	if rawURL == "" {
		rawURL, _ = r.config().read("url")
	}
	if rawURL == "" {
		return nil, fmt.Errorf("no deployment URL: pass --url or set %s", envURL)
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := codersdk.New(u)
	c.Header = make(map[string][]string)
	if key != "" {
		c.Header.Set(codersdk.ProvisionerDaemonKeyHeader, key)
	} else {
		c.Header.Set(codersdk.ProvisionerDaemonPSKHeader, psk)
	}
	return c, nil
}

// provisionerLogger is the daemon's structured logger on w.
func provisionerLogger(format string, verbose bool, w io.Writer) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "human", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: use human or json", format)
	}
}

// parseProvisionerTags turns repeated "key=value" flags into a map. A value
// may be empty ("owner="); a key may not, and may be given only once.
func parseProvisionerTags(raw []string) (map[string]string, error) {
	tags := make(map[string]string, len(raw))
	for _, kv := range raw {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return nil, fmt.Errorf("tag %q: want key=value", kv)
		case k == "":
			return nil, fmt.Errorf("tag %q: the key is empty", kv)
		case strings.ContainsRune(kv, 0):
			return nil, fmt.Errorf("tag %q: contains a NUL byte", kv)
		}
		if prev, dup := tags[k]; dup && prev != v {
			return nil, fmt.Errorf("tag %q given twice (%s=%s and %s=%s)", k, k, prev, k, v)
		}
		tags[k] = v
	}
	return tags, nil
}

// formatProvisionerTags is "k=v, k2=v2" in key order.
func formatProvisionerTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ", ")
}

func describeDaemonTags(tags map[string]string, withKey bool) string {
	switch {
	case len(tags) > 0:
		return formatProvisionerTags(tags)
	case withKey:
		return "those of the provisioner key"
	default:
		return "none: untagged jobs only"
	}
}

// provisionerOrg resolves --org (a name or ID), or the user's default
// organization.
func provisionerOrg(ctx context.Context, client *codersdk.Client, org string) (codersdk.Organization, error) {
	if org != "" {
		o, err := client.Organization(ctx, org)
		if err != nil {
			return codersdk.Organization{}, fmt.Errorf("get organization %q: %w", org, err)
		}
		return o, nil
	}
	orgs, err := client.OrganizationsByUser(ctx, codersdk.Me)
	if err != nil {
		return codersdk.Organization{}, fmt.Errorf("list your organizations: %w", err)
	}
	if len(orgs) == 0 {
		return codersdk.Organization{}, errors.New("you are not a member of any organization")
	}
	for _, o := range orgs {
		if o.IsDefault {
			return o, nil
		}
	}
	return orgs[0], nil
}

func (r *Root) provisionerListCmd() *cobra.Command {
	var (
		out outputFormat
		org string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the provisioner daemons seen in the last day",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			o, err := provisionerOrg(ctx, client, org)
			if err != nil {
				return err
			}
			daemons, err := client.ProvisionerDaemons(ctx, o.ID)
			if err != nil {
				return fmt.Errorf("list provisioner daemons: %w", err)
			}
			now := time.Now()
			rows := make([][]string, 0, len(daemons))
			for _, d := range daemons {
				job := "-"
				if d.CurrentJob != nil {
					job = d.CurrentJob.String()
				}
				rows = append(rows, []string{d.Name, formatProvisionerTags(d.Tags), d.Version, d.Status, sinceString(now, d.LastSeenAt), job})
			}
			return out.write(r.Stdout, daemons, []string{"name", "tags", "version", "status", "last seen", "current job"}, rows)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "Organization name or ID (default: your default organization).")
	out.attach(cmd)
	return cmd
}

// sinceString is "12s ago" for a table.
func sinceString(now, t time.Time) string {
	d := max(now.Sub(t), 0)
	switch {
	case t.IsZero():
		return "never"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return t.Local().Format(time.DateTime)
	}
}

func (r *Root) provisionerKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "keys",
		Aliases: []string{"key"},
		Short:   "Manage provisioner keys: the credentials (and tags) of daemon fleets",
	}
	cmd.AddCommand(r.provisionerKeysCreateCmd(), r.provisionerKeysListCmd(), r.provisionerKeysDeleteCmd())
	return cmd
}

func (r *Root) provisionerKeysCreateCmd() *cobra.Command {
	var (
		org     string
		rawTags []string
	)
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create a provisioner key; it is printed once",
		Example: "  coder provisioner keys create gpu-fleet --tag gpu=true --tag region=eu",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			tags, err := parseProvisionerTags(rawTags)
			if err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			o, err := provisionerOrg(ctx, client, org)
			if err != nil {
				return err
			}
			res, err := client.CreateProvisionerKey(ctx, o.ID, codersdk.CreateProvisionerKeyRequest{Name: args[0], Tags: tags})
			if err != nil {
				return fmt.Errorf("create provisioner key %q: %w", args[0], err)
			}
			fmt.Fprintln(r.Stdout, res.Key)
			fmt.Fprintf(r.Stderr, "\nProvisioner key %q created in organization %s. It is shown only this once: store it now.\n"+
				"Start daemons with it:\n  %s=<key> coder provisioner start --url %s\n", args[0], o.Name, envProvisionerKey, client.URL)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "Organization name or ID (default: your default organization).")
	cmd.Flags().StringArrayVar(&rawTags, "tag", nil, "Tag key=value of the daemons using this key, repeatable.")
	return cmd
}

func (r *Root) provisionerKeysListCmd() *cobra.Command {
	var (
		out outputFormat
		org string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List provisioner keys (never their secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if err := out.validate(); err != nil {
				return err
			}
			client, err := r.client()
			if err != nil {
				return err
			}
			o, err := provisionerOrg(ctx, client, org)
			if err != nil {
				return err
			}
			keys, err := client.ProvisionerKeys(ctx, o.ID)
			if err != nil {
				return fmt.Errorf("list provisioner keys: %w", err)
			}
			rows := make([][]string, 0, len(keys))
			for _, k := range keys {
				rows = append(rows, []string{k.Name, formatProvisionerTags(k.Tags), k.CreatedAt.Local().Format(time.DateTime), k.ID.String()})
			}
			return out.write(r.Stdout, keys, []string{"name", "tags", "created at", "id"}, rows)
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "Organization name or ID (default: your default organization).")
	out.attach(cmd)
	return cmd
}

func (r *Root) provisionerKeysDeleteCmd() *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm", "remove"},
		Short:   "Delete a provisioner key; daemons using it are refused from then on",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			client, err := r.client()
			if err != nil {
				return err
			}
			o, err := provisionerOrg(ctx, client, org)
			if err != nil {
				return err
			}
			if err := client.DeleteProvisionerKey(ctx, o.ID, args[0]); err != nil {
				return fmt.Errorf("delete provisioner key %q: %w", args[0], err)
			}
			fmt.Fprintf(r.Stdout, "Provisioner key %s deleted.\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "Organization name or ID (default: your default organization).")
	return cmd
}
