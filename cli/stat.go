package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/agent/agentexec"
	"github.com/opencoder/coder/clistat"
)

// statColumns are `coder stat`'s columns, in the incumbent's order.
var statColumns = []string{"host cpu", "host memory", "home disk", "container cpu", "container memory"}

// statCmd is `coder stat`: the workspace's resource use, for people and
// for agent metadata scripts (`coder stat cpu` every few seconds). It needs
// no deployment: it measures the machine or container it runs in.
func (r *Root) statCmd() *cobra.Command {
	var (
		interval time.Duration
		output   string
		columns  []string
	)
	newStatter := func() *clistat.Statter { return &clistat.Statter{Interval: interval} }
	cmd := &cobra.Command{
		Use:   "stat",
		Short: "Show resource usage for the current workspace",
		Long: "Shows CPU, memory and disk use. Inside a container the figures are the container's\n" +
			"(its cgroup's use and limits, v1 or v2); --host measures the whole machine.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkStatOutput(output, "table"); err != nil {
				return err
			}
			s, ctx := newStatter(), cmd.Context()
			measure := map[string]func() (clistat.Result, error){
				"host cpu":         func() (clistat.Result, error) { return s.CPU(ctx, true) },
				"host memory":      func() (clistat.Result, error) { return s.Memory(clistat.PrefixGibi, true) },
				"home disk":        func() (clistat.Result, error) { return clistat.Disk(agentexec.HomeDir(), clistat.PrefixGibi) },
				"container cpu":    func() (clistat.Result, error) { return s.CPU(ctx, false) },
				"container memory": func() (clistat.Result, error) { return s.Memory(clistat.PrefixGibi, false) },
			}
			for _, c := range columns {
				if measure[c] == nil {
					return fmt.Errorf("--column %q: use %s", c, strings.Join(statColumns, ", "))
				}
			}
			// Each CPU figure takes a sampling interval; they are taken one
			// after the other, only for the columns asked for.
			row := make([]string, len(columns))
			byKey := map[string]clistat.Result{}
			for i, c := range columns {
				res, err := measure[c]()
				if err != nil {
					return err
				}
				row[i] = res.String()
				byKey[strings.ReplaceAll(c, " ", "_")] = res
			}
			if output == "json" {
				return writeStatJSON(r.Stdout, []map[string]clistat.Result{byKey})
			}
			return writeTable(r.Stdout, columns, [][]string{row})
		},
	}
	cmd.PersistentFlags().DurationVarP(&interval, "interval", "i", clistat.DefaultInterval,
		"Time between the two CPU samples: longer smooths the figure; a metadata script must finish within its timeout.")
	// The name this flag had before; kept so scripts using it still work.
	cmd.PersistentFlags().DurationVar(&interval, "sample-interval", clistat.DefaultInterval, "")
	_ = cmd.PersistentFlags().MarkHidden("sample-interval")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "Output format: table or json.")
	cmd.Flags().StringSliceVarP(&columns, "column", "c", statColumns, "Columns to display in table output: "+strings.Join(statColumns, ", ")+".")
	cmd.AddCommand(r.statCPUCmd(newStatter), r.statMemCmd(newStatter), r.statDiskCmd())
	return cmd
}

func (r *Root) statCPUCmd(newStatter func() *clistat.Statter) *cobra.Command {
	var (
		host   bool
		output string
	)
	cmd := &cobra.Command{
		Use:   "cpu",
		Short: "Show CPU usage, in cores",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkStatOutput(output, "text"); err != nil {
				return err
			}
			res, err := newStatter().CPU(cmd.Context(), host)
			if err != nil {
				return err
			}
			return writeStat(r.Stdout, output, res)
		},
	}
	cmd.Flags().BoolVar(&host, "host", false, "Force host CPU measurement.")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format: text or json.")
	return cmd
}

func (r *Root) statMemCmd(newStatter func() *clistat.Statter) *cobra.Command {
	var (
		host           bool
		prefix, output string
	)
	cmd := &cobra.Command{
		Use:   "mem",
		Short: "Show memory usage, in gigabytes",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := checkStatOutput(output, "text"); err != nil {
				return err
			}
			p, err := clistat.ParsePrefix(prefix)
			if err != nil {
				return fmt.Errorf("--prefix: %w", err)
			}
			res, err := newStatter().Memory(p, host)
			if err != nil {
				return err
			}
			return writeStat(r.Stdout, output, res)
		},
	}
	cmd.Flags().BoolVar(&host, "host", false, "Force host memory measurement.")
	cmd.Flags().StringVar(&prefix, "prefix", "Gi", "SI Prefix for memory measurement: Ki, Mi, Gi or Ti.")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format: text or json.")
	return cmd
}

func (r *Root) statDiskCmd() *cobra.Command {
	var path, prefix, output string
	cmd := &cobra.Command{
		Use:   "disk",
		Short: "Show disk usage, in gigabytes",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := checkStatOutput(output, "text"); err != nil {
				return err
			}
			p, err := clistat.ParsePrefix(prefix)
			if err != nil {
				return fmt.Errorf("--prefix: %w", err)
			}
			res, err := clistat.Disk(path, p)
			if err != nil {
				return err
			}
			return writeStat(r.Stdout, output, res)
		},
	}
	cmd.Flags().StringVar(&path, "path", "/", "Path for which to check disk usage.")
	cmd.Flags().StringVar(&prefix, "prefix", "Gi", "SI Prefix for disk measurement: Ki, Mi, Gi or Ti.")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "Output format: text or json.")
	return cmd
}

// checkStatOutput accepts human (text or table, per command) or json.
func checkStatOutput(output, human string) error {
	if output == human || output == "json" {
		return nil
	}
	return fmt.Errorf("unknown output format %q: use %s or json", output, human)
}

// writeStat prints one result: "0.5/2 cores (25%)", or its JSON.
func writeStat(w io.Writer, output string, res clistat.Result) error {
	if output == "json" {
		return writeStatJSON(w, res)
	}
	_, err := fmt.Fprintln(w, res.String())
	return err
}

func writeStatJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
