package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

// This file is `coder replicas`: the deployment's live coderd processes,
// for operators checking a scale-out (or a rolling upgrade) from a shell.

func (r *Root) replicasCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:     "replicas",
		Aliases: []string{"replica"},
		Short:   "List the deployment's live coderd replicas (owners and auditors)",
		Long: "Every coderd process on the deployment's database, oldest first: where peers reach its DERP server,\n" +
			"its version, its last database round trip and what it reports as wrong. Replicas on different\n" +
			"versions (a rolling upgrade under way) are pointed out on stderr. Exit code 0 even when a\n" +
			"replica reports an error: the table says which.",
		Example: "  coder replicas\n  coder replicas -o json",
		Args:    cobra.NoArgs,
		RunE: r.withClient(&out, func(ctx context.Context, client *codersdk.Client, _ []string) error {
			rs, err := client.Replicas(ctx)
			if err != nil {
				return wrapAPI("list replicas", err)
			}
			if err := out.write(r.Stdout, rs, replicaHeader, replicaRows(rs)); err != nil {
				return err
			}
			if codersdk.MixedVersions(rs) {
				fmt.Fprintf(r.Stderr, "\nReplicas run different versions (%s): a rolling upgrade is under way, or one was left behind.\n",
					strings.Join(replicaVersions(rs), ", "))
			}
			return nil
		}),
	}
	out.attach(cmd)
	return cmd
}

var replicaHeader = []string{"hostname", "relay address", "region", "version", "started", "database", "error"}

func replicaRows(rs []codersdk.Replica) [][]string {
	rows := make([][]string, 0, len(rs))
	for _, rep := range rs {
		relay := rep.RelayAddress
		if relay == "" {
			relay = "-"
		}
		problem := firstLine(rep.Error)
		if problem == "" {
			problem = "-"
		}
		latency := (time.Duration(rep.DatabaseLatency) * time.Microsecond).Round(10 * time.Microsecond)
		rows = append(rows, []string{rep.Hostname, relay, fmt.Sprint(rep.RegionID), rep.Version,
			relativeTime(rep.CreatedAt), latency.String(), problem})
	}
	return rows
}

// replicaVersions is each distinct version with how many replicas run it,
// the most common first: "v2.1.0 (2), v2.0.3 (1)".
func replicaVersions(rs []codersdk.Replica) []string {
	count := map[string]int{}
	for _, rep := range rs {
		count[rep.Version]++
	}
	versions := make([]string, 0, len(count))
	for v := range count {
		versions = append(versions, v)
	}
	sort.Slice(versions, func(i, j int) bool {
		if count[versions[i]] != count[versions[j]] {
			return count[versions[i]] > count[versions[j]]
		}
		return versions[i] < versions[j]
	})
	for i, v := range versions {
		versions[i] = fmt.Sprintf("%s (%d)", v, count[v])
	}
	return versions
}
