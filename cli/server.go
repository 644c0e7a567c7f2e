package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/coderd"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/coderd/replicasync"
	"github.com/opencoder/coder/coderd/workspaceapps"
	"github.com/opencoder/coder/tailnet"
)

// envServerConfigDir names the server's state directory. It is not
// CODER_CONFIG_DIR (the CLI's --global-config, where its session lives), so
// a server and a CLI on one host can keep their state apart; with neither
// the flag nor this variable the server uses --global-config, so a lone
// CODER_CONFIG_DIR still sets both, as it always has.
const envServerConfigDir = "CODER_SERVER_CONFIG_DIR"

const serverConfigDirUsage = "Directory for server state, including the built-in PostgreSQL's data (default: --global-config, so $CODER_CONFIG_DIR too)."

// serverOptions are `coder server`'s flags.
type serverOptions struct {
	httpAddress     string
	accessURL       string
	postgresURL     string
	configDir       string
	logFormat       string
	verbose         bool
	tlsCertFile     string
	tlsKeyFile      string
	sessionDuration time.Duration
	shutdownGrace   time.Duration
	shutdownDrain   time.Duration
	provisionerPSK  string
	maxFileSize     int64

	provisionerDaemons int
	cacheDir           string
	terraformPath      string
	providerMirror     string

	stunAddress      string
	stunAddresses    []string
	derpConfigPath   string
	blockDirect      bool
	browserOnly      bool
	derpForceWS      bool
	agentBinariesDir string
	wildcardURL      string
	disablePathApps  bool

	prometheusAddress string

	derpRelayURL    string
	replicaInterval time.Duration
}

func (r *Root) serverCmd() *cobra.Command {
	var o serverOptions
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Start coderd: the API, built-in PostgreSQL (unless --postgres-url) and built-in provisioners",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.configDir == "" {
				o.configDir = r.configDir
			}
			return r.runServer(cmd.Context(), o)
		},
	}
	fs := cmd.Flags()
	g := r.Getenv
	flagString(fs, g, &o.httpAddress, "http-address", "CODER_HTTP_ADDRESS", "127.0.0.1:3000", "HTTP(S) bind address: the API, DERP and agent downloads all share this one port.")
	flagString(fs, g, &o.accessURL, "access-url", "CODER_ACCESS_URL", "", "URL that users and workspaces use to reach this server (default: derived from --http-address).")
	flagString(fs, g, &o.postgresURL, "postgres-url", "CODER_PG_CONNECTION_URL", "", "PostgreSQL connection URL. When empty, a built-in PostgreSQL is started under --config-dir.")
	flagString(fs, g, &o.configDir, "config-dir", envServerConfigDir, "", serverConfigDirUsage)
	flagString(fs, g, &o.prometheusAddress, "prometheus-address", "CODER_PROMETHEUS_ADDRESS", "", "Bind address (e.g. 127.0.0.1:2112) of a separate listener serving Prometheus metrics at /metrics; empty turns metrics off.")
	flagString(fs, g, &o.logFormat, "log-format", "CODER_LOG_FORMAT", "human", "Log format: human or json.")
	flagBool(fs, g, &o.verbose, "verbose", "CODER_VERBOSE", false, "Log debug messages, including every HTTP request.")
	flagString(fs, g, &o.tlsCertFile, "tls-cert-file", "CODER_TLS_CERT_FILE", "", "PEM certificate; with --tls-key-file the port serves HTTPS.")
	flagString(fs, g, &o.tlsKeyFile, "tls-key-file", "CODER_TLS_KEY_FILE", "", "PEM private key for --tls-cert-file.")
	flagDuration(fs, g, &o.sessionDuration, "session-duration", "CODER_SESSION_DURATION", 24*time.Hour, "How long a login session lasts after its last use.")
	flagDuration(fs, g, &o.shutdownGrace, "shutdown-grace-period", "CODER_SHUTDOWN_GRACE_PERIOD", 30*time.Second, "How long to let in-flight requests finish on SIGINT/SIGTERM.")
	flagDuration(fs, g, &o.shutdownDrain, "shutdown-drain-period", "CODER_SHUTDOWN_DRAIN_PERIOD", 5*time.Second, "On SIGINT/SIGTERM, how long to keep serving with /healthz failing (503) before closing the listener, so a load balancer's\nhealth checks take this replica out of its pool first; skipped when no other replica is live, or on a second signal. 0 turns it off.")
	flagString(fs, g, &o.provisionerPSK, "provisioner-daemon-psk", "CODER_PROVISIONER_DAEMON_PSK", "", "Pre-shared key external provisioner daemons may authenticate with (provisioner keys are preferred).")
	flagString(fs, g, &o.stunAddress, "stun-address", "CODER_STUN_ADDRESS", ":3478", "UDP address of the embedded STUN server, so peers find direct paths even fully offline; \"disable\" turns it off.")
	flagStringArray(fs, g, &o.stunAddresses, "derp-server-stun-addresses", "CODER_DERP_SERVER_STUN_ADDRESSES", "External STUN servers (host:port) to advertise instead of the embedded one; \"disable\" advertises none.")
	flagString(fs, g, &o.derpConfigPath, "derp-config-path", "CODER_DERP_CONFIG_PATH", "", "JSON file (a Tailscale DERP map) with extra DERP regions.")
	flagBool(fs, g, &o.blockDirect, "block-direct-connections", "CODER_BLOCK_DIRECT", false, "Relay all workspace traffic through DERP: nodes advertise no direct endpoints.")
	flagBool(fs, g, &o.browserOnly, "browser-only", "CODER_BROWSER_ONLY", false, "Refuse CLI tailnet connections (coder ssh, port-forward...): workspaces are reachable from the browser only.")
	flagBool(fs, g, &o.derpForceWS, "derp-force-websockets", "CODER_DERP_FORCE_WEBSOCKETS", false, "Tell nodes to speak DERP over websockets (for proxies that drop Upgrade: DERP).")
	flagString(fs, g, &o.wildcardURL, "wildcard-access-url", "CODER_WILDCARD_ACCESS_URL", "", "Wildcard domain for workspace apps, e.g. *.apps.example.com (a DNS record sending it to this server): each app gets its own origin at app--agent--workspace--user.apps.example.com, which apps that need the root path (Jupyter, Vite) require.")
	flagBool(fs, g, &o.disablePathApps, "disable-path-apps", "CODER_DISABLE_PATH_APPS", false, "Refuse apps at /@user/workspace/apps/... (they share the dashboard's origin, so a malicious app could act as its visitor); use subdomain apps instead.")
	flagString(fs, g, &o.derpRelayURL, "derp-server-relay-url", "CODER_DERP_SERVER_RELAY_URL", "", "URL at which the other coderd replicas on this database reach this one's DERP server directly, not through the load balancer (e.g. http://10.0.0.5:3000); required when other replicas are running, so relayed connections work whichever replica a node lands on.")
	flagDuration(fs, g, &o.replicaInterval, "replica-heartbeat-interval", "CODER_REPLICA_HEARTBEAT_INTERVAL", replicasync.DefaultInterval, "How often this replica refreshes its entry in the database; peers silent for three intervals are dropped from the DERP mesh and the replicas list.")
	flagString(fs, g, &o.agentBinariesDir, "agent-binaries-dir", "CODER_AGENT_BINARIES_DIR", "", "Directory of coder-<os>-<arch> binaries served at /bin for workspaces on other platforms (this binary is served for its own).")
	flagInt(fs, g, &o.provisionerDaemons, "provisioner-daemons", "CODER_PROVISIONER_DAEMONS", 1, "Built-in provisioner daemons to run (0 for a fleet of external ones only).")
	flagString(fs, g, &o.cacheDir, "cache-dir", "CODER_CACHE_DIRECTORY", "", "Cache for built-in provisioners: Terraform providers and job directories (default: <config-dir>/cache).")
	flagString(fs, g, &o.terraformPath, "provisioner-terraform-path", "CODER_PROVISIONER_TERRAFORM_PATH", "", "Terraform (or OpenTofu) binary for built-in provisioners (default: terraform or tofu on PATH).")
	flagString(fs, g, &o.providerMirror, "provisioner-provider-mirror", "CODER_PROVISIONER_PROVIDER_MIRROR", "", "Filesystem mirror of Terraform providers for built-in provisioners (air-gapped sites; see docs/toolchain.md).")
	var maxFileMiB int
	flagInt(fs, g, &maxFileMiB, "max-file-size-mib", "CODER_MAX_FILE_SIZE_MIB", 10, "Largest template upload accepted, in MiB.")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if o.provisionerDaemons < 0 || o.provisionerDaemons > 64 {
			return fmt.Errorf("--provisioner-daemons %d: must be between 0 and 64", o.provisionerDaemons)
		}
		if maxFileMiB < 1 || maxFileMiB > 1024 {
			return fmt.Errorf("--max-file-size-mib %d: must be between 1 and 1024", maxFileMiB)
		}
		o.maxFileSize = int64(maxFileMiB) << 20
		if o.replicaInterval < 100*time.Millisecond || o.replicaInterval > 5*time.Minute {
			return fmt.Errorf("--replica-heartbeat-interval %s: must be between 100ms and 5m", o.replicaInterval)
		}
		if o.wildcardURL != "" {
			o.wildcardURL = strings.TrimPrefix(strings.TrimPrefix(o.wildcardURL, "https://"), "http://")
			if _, err := workspaceapps.ParseSubdomain("a--b--c"+strings.TrimPrefix(o.wildcardURL, "*"), o.wildcardURL); err != nil {
				return fmt.Errorf("--wildcard-access-url %q: must look like *.apps.example.com", o.wildcardURL)
			}
		}
		return nil
	}
	cmd.AddCommand(r.postgresBuiltinURLCmd())
	return cmd
}

func (r *Root) postgresBuiltinURLCmd() *cobra.Command {
	var raw bool
	var dir string
	cmd := &cobra.Command{
		Use:   "postgres-builtin-url",
		Short: "Print the URL of the built-in PostgreSQL (for psql and backups)",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if dir == "" {
				dir = r.configDir
			}
			u, err := builtinpg.ReadURL(filepath.Join(dir, "postgres"))
			if err != nil {
				return err
			}
			if raw {
				fmt.Fprintln(r.Stdout, u)
				return nil
			}
			fmt.Fprintf(r.Stdout, "psql %q\n", u)
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "raw-url", false, "Print the URL alone, without the psql command.")
	flagString(cmd.Flags(), r.Getenv, &dir, "config-dir", envServerConfigDir, "", "The server's --config-dir (default: --global-config).")
	return cmd
}

func (r *Root) runServer(ctx context.Context, o serverOptions) error {
	logger, err := newLogger(o.logFormat, o.verbose, os.Stderr)
	if err != nil {
		return err
	}
	if (o.tlsCertFile == "") != (o.tlsKeyFile == "") {
		return errors.New("--tls-cert-file and --tls-key-file must be given together")
	}
	if o.derpForceWS {
		// Refuse here rather than let every agent and CLI connection fail
		// later: a binary built without make (no ts_debug_websockets tag)
		// cannot speak websocket DERP.
		if err := tailnet.CheckDERPWebSockets(); err != nil {
			return fmt.Errorf("--derp-force-websockets: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var tlsConfig *tls.Config
	if o.tlsCertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCertFile, o.tlsKeyFile)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", o.httpAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.httpAddress, err)
	}
	defer ln.Close()
	var metricsLn net.Listener
	if o.prometheusAddress != "" {
		if metricsLn, err = listenMetrics(o.prometheusAddress); err != nil {
			return err
		}
		defer metricsLn.Close()
	}
	accessURL, err := deriveAccessURL(o.accessURL, ln.Addr().(*net.TCPAddr), tlsConfig != nil)
	if err != nil {
		return err
	}

	// Built-in PostgreSQL starts first and stops last.
	pgURL := o.postgresURL
	if pgURL == "" {
		fmt.Fprintf(r.Stderr, "Starting built-in PostgreSQL in %s ...\n", filepath.Join(o.configDir, "postgres"))
		pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: filepath.Join(o.configDir, "postgres"), Logger: logger.With("component", "postgres")})
		if err != nil {
			return fmt.Errorf("start built-in postgres: %w", err)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			if err := pg.Stop(sctx); err != nil {
				logger.Error("stop built-in postgres", "error", err)
			}
		}()
		pgURL = pg.URL()
	}
	db, err := database.Open(ctx, pgURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()

	ps, err := pubsub.New(ctx, db.Pool(), logger.With("component", "pubsub"))
	if err != nil {
		return fmt.Errorf("start pubsub: %w", err)
	}
	defer ps.Close()
	tn, err := startTailnet(ctx, o, accessURL, logger)
	if err != nil {
		return err
	}
	defer tn.close()
	replicas, err := startReplicas(ctx, o, accessURL, db, ps, tn, logger)
	if err != nil {
		return err
	}
	defer replicas.close()
	var metricsReg *prometheus.Registry
	if metricsLn != nil {
		if metricsReg, err = newMetricsRegistry(); err != nil {
			return err
		}
		if err := metricsReg.Register(replicas.shared); err != nil {
			return fmt.Errorf("register the shared coordinator's metrics: %w", err)
		}
	}
	builtinPSK := ""
	if o.provisionerDaemons > 0 {
		builtinPSK = randomHex(32)
	}
	api, err := coderd.New(ctx, coderd.Options{
		Coordinator:           tn.coordinator,
		DERPHandler:           tn.derpHandler,
		DERPMap:               tn.derpMapJSON,
		BlockDirect:           o.blockDirect,
		BrowserOnly:           o.browserOnly,
		DERPForceWebSockets:   o.derpForceWS,
		WildcardAccessURL:     o.wildcardURL,
		DisablePathApps:       o.disablePathApps,
		AgentBinariesDir:      o.agentBinariesDir,
		AccessURL:             accessURL,
		DB:                    db,
		Pubsub:                ps,
		Logger:                logger,
		SessionLifetime:       o.sessionDuration,
		ProvisionerPSK:        o.provisionerPSK,
		BuiltinProvisionerPSK: builtinPSK,
		MaxFileSize:           o.maxFileSize,
		PrometheusRegistry:    metricsReg,
		Replicas:              replicas.manager,
	})
	if err != nil {
		return err
	}
	defer api.Close()
	if metricsLn != nil {
		metrics := serveMetrics(ctx, metricsLn, metricsReg, logger)
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := metrics.close(sctx); err != nil {
				logger.Warn("stop metrics listener", "error", err)
			}
		}()
		fmt.Fprintf(r.Stderr, "Prometheus metrics at http://%s/metrics\n", metrics.Addr())
	}
	srv := &http.Server{
		Handler:           api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if tlsConfig != nil {
		srv.TLSConfig = tlsConfig
		ln = tls.NewListener(ln, tlsConfig)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	daemons, err := startBuiltinProvisioners(ctx, o, ln.Addr().(*net.TCPAddr), tlsConfig != nil, builtinPSK, logger)
	if err != nil {
		_ = srv.Close()
		return err
	}
	defer daemons.close()
	fmt.Fprintf(r.Stderr, "Coder %s is running at %s\n", buildinfo.Version(), accessURL)
	fmt.Fprintf(r.Stderr, "\nNext, open %s in a browser: it asks for the first user (the deployment's owner); then\nTemplates > New template > Docker, and create a workspace from it. Or, from another terminal:\n  coder login %s --first-user-username admin --first-user-email admin@example.com --first-user-password 'SomePass!234'\n\nPress Ctrl+C to stop.\n", accessURL, accessURL)

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(r.Stderr, "\nShutting down...")
	again, stopAgain := notifyStopAgain()
	drainer{api: api, srv: srv}.drain(context.Background(), o.shutdownDrain, len(replicas.manager.Peers()), again, r.Stderr)
	stopAgain()
	fmt.Fprintln(r.Stderr, "Finishing provisioner jobs and in-flight requests...")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownGrace)
	defer cancel()
	daemons.shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("graceful shutdown incomplete; closing connections", "error", err)
		_ = srv.Close()
	}
	<-serveErr
	// Leave the shared coordinator, the registry and the mesh before the
	// coordinator and the relay close, so peers learn of it at once.
	replicas.close()
	tn.close()
	fmt.Fprintln(r.Stderr, "Stopped.")
	return nil
}

// deriveAccessURL returns --access-url, or one built from the listen
// address (a wildcard address becomes 127.0.0.1 for local use).
func deriveAccessURL(raw string, addr *net.TCPAddr, tlsOn bool) (*url.URL, error) {
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--access-url %q: must be an absolute http(s) URL", raw)
		}
		u.Path = strings.TrimSuffix(u.Path, "/")
		return u, nil
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tlsOn {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, fmt.Sprint(addr.Port))}, nil
}
