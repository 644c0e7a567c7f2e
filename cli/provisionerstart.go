package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/provisionerd"
	"github.com/opencoder/coder/provisionerd/terraform"
)

// This file is `coder provisioner start`: the daemon runtime (credentials,
// Terraform runner, signals, graceful shutdown).

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
			"owner or template admin, and runs the jobs whose tags it all has; a daemon with tags runs no\n" +
			"untagged jobs (push a template with --tag to send its builds to tagged daemons).\n\n" +
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
	flagStringArray(fs, g, &o.tags, "tag", envProvisionerTags, "Tag key=value, repeatable (comma-separated in the env var): the daemon runs only jobs whose tags it all has, and no untagged ones.")
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
	logger, err := newLogger(o.logFormat, o.verbose, r.Stderr)
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
	u, err := r.deploymentURL()
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, fmt.Errorf("no deployment URL: pass --url or set %s", envURL)
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
