package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/opencoder/coder/agent/speedtest"
	"github.com/opencoder/coder/agentconn"
)

// directWait bounds how long --direct waits for a peer-to-peer path.
const directWait = 15 * time.Second

// speedtestPath is the route the test used.
type speedtestPath struct {
	Direct      bool   `json:"direct"`
	Endpoint    string `json:"endpoint,omitempty"`
	DERPRegion  int    `json:"derp_region,omitempty"`
	Description string `json:"description"`
}

// speedtestResult is one direction's figures.
type speedtestResult struct {
	Direction       string  `json:"direction"`
	MbitsPerSecond  float64 `json:"mbits_per_second"`
	Bytes           int64   `json:"bytes"`
	DurationSeconds float64 `json:"duration_seconds"`
}

// speedtestReport is what -o json prints.
type speedtestReport struct {
	Workspace string            `json:"workspace"`
	Agent     string            `json:"agent"`
	Path      speedtestPath     `json:"path"`
	Results   []speedtestResult `json:"results"`
}

func (r *Root) speedtestCmd() *cobra.Command {
	var (
		duration       time.Duration
		direct, relay  bool
		connectTimeout time.Duration
		out            outputFormat
	)
	cmd := &cobra.Command{
		Use:   "speedtest WORKSPACE[.AGENT]",
		Short: "Measure upload and download throughput to a workspace over the tailnet",
		Long: `Send data to the workspace's agent and then receive data from it, each for
--time, and print the throughput in Mbit/s with the path used (peer to peer, or
relayed through coderd's DERP). --direct waits up to 15s for a peer-to-peer path
and fails without one; --relay keeps traffic on DERP.`,
		Example: "  coder speedtest dev\n  coder speedtest dev --relay -t 10s -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			if direct && relay {
				return errors.New("--direct and --relay exclude each other")
			}
			if duration <= 0 || duration > speedtest.MaxDuration {
				return fmt.Errorf("--time %s: must be positive and at most %s", duration, speedtest.MaxDuration)
			}
			sess, err := r.dialSession(cmd, args[0], connectTimeout, relay)
			if err != nil {
				return err
			}
			defer sess.close()
			ctx, client, target, conn := sess.ctx, sess.client, sess.target, sess.conn
			regions := regionNames(ctx, client, target.Agent)
			if direct {
				info, err := client.WorkspaceAgentConnectionInfo(ctx, target.Agent.ID)
				if err != nil {
					return wrapAPI("get connection info", err)
				}
				if info.DisableDirectConnections {
					return errors.New("--direct: this deployment disables direct connections (all traffic is relayed through DERP)")
				}
				fmt.Fprintln(r.Stderr, "Waiting for a direct connection...")
				if !awaitDirect(ctx, conn) {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return fmt.Errorf("no direct path to %s within %s: a firewall or NAT may block UDP; run without --direct to measure the relay", target.label(), directWait)
				}
			}
			report := speedtestReport{Workspace: target.Workspace.OwnerName + "/" + target.Workspace.Name, Agent: target.Agent.Name}
			dial := func(ctx context.Context) (net.Conn, error) {
				c, err := conn.DialPort(ctx, agentconn.SpeedtestPort)
				if err != nil {
					return nil, err
				}
				return deadlineConn{c}, nil
			}
			for _, dir := range []speedtest.Direction{speedtest.Upload, speedtest.Download} {
				fmt.Fprintf(r.Stderr, "Testing %s for %s...\n", dir, duration)
				res, err := speedtest.Run(ctx, dial, dir, duration)
				if err != nil {
					return fmt.Errorf("%s test to %s: %w", dir, target.label(), err)
				}
				report.Results = append(report.Results, speedtestResult{
					Direction: dir.String(), MbitsPerSecond: res.MbitsPerSecond, Bytes: res.Bytes, DurationSeconds: res.Duration.Seconds(),
				})
			}
			report.Path = currentPath(conn, regions)
			rows := make([][]string, len(report.Results))
			for i, res := range report.Results {
				rows[i] = []string{res.Direction, fmt.Sprintf("%.2f Mbit/s", res.MbitsPerSecond), formatBytes(res.Bytes), fmt.Sprintf("%.2fs", res.DurationSeconds)}
			}
			if out.format != "json" {
				fmt.Fprintf(r.Stdout, "Path: %s\n", report.Path.Description)
			}
			return out.write(r.Stdout, report, []string{"direction", "throughput", "transferred", "duration"}, rows)
		},
	}
	fs := cmd.Flags()
	withShorthand(fs, "t", func(fs *pflag.FlagSet) {
		flagDuration(fs, r.Getenv, &duration, "time", "CODER_SPEEDTEST_TIME", 5*time.Second, "How long each direction's test runs.")
	})
	fs.BoolVarP(&direct, "direct", "d", false, "Wait for a peer-to-peer path first; fail without one.")
	fs.BoolVar(&relay, "relay", false, "Keep traffic on the DERP relay (no peer-to-peer path).")
	flagDuration(fs, r.Getenv, &connectTimeout, "connect-timeout", "CODER_SSH_CONNECT_TIMEOUT", defaultConnectTimeout,
		"How long to wait for the agent to connect and answer over the tailnet (0: forever).")
	out.attach(cmd)
	return cmd
}

// awaitDirect pings until a ping comes back over a direct path, for up to
// directWait.
func awaitDirect(ctx context.Context, conn *agentconn.Conn) bool {
	ctx, cancel := context.WithTimeout(ctx, directWait)
	defer cancel()
	for {
		pingCtx, pingCancel := context.WithTimeout(ctx, 2*time.Second)
		_, direct, _, err := conn.Ping(pingCtx)
		pingCancel()
		if err == nil && direct {
			return true
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
}

// currentPath describes the path to the agent now.
func currentPath(conn *agentconn.Conn, regions map[int]string) speedtestPath {
	st, ok := conn.PeerStatus()
	if !ok {
		return speedtestPath{Description: "unknown"}
	}
	p := speedtestPath{Direct: st.Direct, Endpoint: st.Endpoint}
	if !st.Direct {
		p.DERPRegion = st.DERPRegion
	}
	p.Description = describePath(p.Direct, p.Endpoint, st.DERPRegion, regions)
	return p
}

// deadlineConn reports an expired deadline as os.ErrDeadlineExceeded, as
// the standard library's connections do and speedtest.Run expects; the
// tailnet's (gVisor netstack) connections return their own timeout error,
// which would turn the end of a download into a failure.
type deadlineConn struct{ net.Conn }

func (c deadlineConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	return n, asDeadlineExceeded(err)
}

func (c deadlineConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	return n, asDeadlineExceeded(err)
}

func asDeadlineExceeded(err error) error {
	var ne net.Error
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout() {
		return os.ErrDeadlineExceeded
	}
	return err
}
