package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func (r *Root) pingCmd() *cobra.Command {
	var (
		count          int
		interval       time.Duration
		timeout        time.Duration
		connectTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "ping WORKSPACE[.AGENT]",
		Short: "Ping a workspace's agent over the tailnet and show the path packets take",
		Long: `Send tailnet pings to the workspace's agent and print each round trip with the
path it took: relayed through a DERP region (always available: coderd relays it)
or peer to peer over UDP, which replaces the relay once STUN and NAT traversal
find a direct route. A line marks the moment the path becomes direct. A summary
follows the last ping (or Ctrl-C); the command fails if no ping is answered.`,
		Example: "  coder ping dev\n  coder ping alice/dev.main -n 0 --interval 200ms",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 || timeout <= 0 {
				return errors.New("--interval and --timeout must be positive")
			}
			sess, err := r.dialSession(cmd, args[0], connectTimeout, false)
			if err != nil {
				return err
			}
			defer sess.close()
			ctx, client, target, conn := sess.ctx, sess.client, sess.target, sess.conn
			regions := regionNames(ctx, client, target.Agent)
			label := target.label()
			fmt.Fprintf(r.Stdout, "PING %s (%s)\n", label, conn.AgentIP())

			var (
				stats       pingStats
				wasDirect   bool
				lastPath    string
				interrupted bool
			)
			for i := 0; count <= 0 || i < count; i++ {
				if i > 0 {
					t := time.NewTimer(interval)
					select {
					case <-ctx.Done():
						t.Stop()
					case <-t.C:
					}
				}
				if ctx.Err() != nil {
					interrupted = true
					break
				}
				pingCtx, cancel := context.WithTimeout(ctx, timeout)
				latency, direct, region, err := conn.Ping(pingCtx)
				cancel()
				stats.sent++
				if err != nil {
					if ctx.Err() != nil {
						stats.sent--
						interrupted = true
						break
					}
					if pingCtx.Err() != nil {
						fmt.Fprintf(r.Stdout, "ping to %s timed out after %s\n", label, timeout)
					} else {
						fmt.Fprintf(r.Stdout, "ping to %s failed: %v\n", label, err)
					}
					continue
				}
				stats.add(latency)
				endpoint := ""
				if st, ok := conn.PeerStatus(); ok && direct {
					endpoint = st.Endpoint
				}
				lastPath = describePath(direct, endpoint, region, regions)
				if direct && !wasDirect && stats.received > 1 {
					fmt.Fprintf(r.Stdout, "Direct connection established: %s (no longer relayed)\n", lastPath)
				}
				wasDirect = direct
				fmt.Fprintf(r.Stdout, "pong from %s in %s %s\n", label, formatLatency(latency), lastPath)
			}
			if interrupted {
				fmt.Fprintln(r.Stdout)
			}
			stats.print(r.Stdout, label, lastPath)
			if stats.received == 0 {
				return fmt.Errorf("no answer from %s", label)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	withShorthand(fs, "n", func(fs *pflag.FlagSet) {
		flagInt(fs, r.Getenv, &count, "num", "CODER_PING_NUM", 10, "Number of pings (0: until Ctrl-C).")
	})
	flagDuration(fs, r.Getenv, &interval, "interval", "CODER_PING_INTERVAL", time.Second, "Time between pings.")
	withShorthand(fs, "t", func(fs *pflag.FlagSet) {
		flagDuration(fs, r.Getenv, &timeout, "timeout", "CODER_PING_TIMEOUT", 5*time.Second, "How long to wait for each answer.")
	})
	flagDuration(fs, r.Getenv, &connectTimeout, "connect-timeout", "CODER_SSH_CONNECT_TIMEOUT", defaultConnectTimeout,
		"How long to wait for the agent to connect and answer over the tailnet (0: forever).")
	return cmd
}

// pingStats sums up the answers.
type pingStats struct {
	sent, received int
	min, max, sum  time.Duration
}

func (s *pingStats) add(d time.Duration) {
	if s.received == 0 || d < s.min {
		s.min = d
	}
	s.max = max(s.max, d)
	s.sum += d
	s.received++
}

func (s *pingStats) print(w io.Writer, label, path string) {
	fmt.Fprintf(w, "--- %s ping statistics ---\n", label)
	loss := 0.0
	if s.sent > 0 {
		loss = 100 * float64(s.sent-s.received) / float64(s.sent)
	}
	fmt.Fprintf(w, "%d sent, %d received, %.0f%% loss", s.sent, s.received, loss)
	if s.received > 0 {
		avg := s.sum / time.Duration(s.received)
		fmt.Fprintf(w, "; round trip min/avg/max %s/%s/%s", formatLatency(s.min), formatLatency(avg), formatLatency(s.max))
	}
	fmt.Fprintln(w)
	if path != "" {
		fmt.Fprintf(w, "Path: %s\n", path)
	}
}

// formatLatency prints a round trip in milliseconds with useful precision.
func formatLatency(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.2fms", ms)
	case ms < 100:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.0fms", ms)
}
