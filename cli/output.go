package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// outputFormat is the -o flag: a table for people, JSON for scripts.
type outputFormat struct{ format string }

func (o *outputFormat) attach(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "table", "Output format: table or json.")
}

func (o *outputFormat) validate() error {
	switch o.format {
	case "table", "json":
		return nil
	default:
		return fmt.Errorf("unknown output format %q: use table or json", o.format)
	}
}

// write prints v as JSON, or as a table built from header and rows.
func (o *outputFormat) write(w io.Writer, v any, header []string, rows [][]string) error {
	if o.format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return writeTable(w, header, rows)
}

func writeTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// say prints v as JSON with -o json; for a table it prints the sentence
// (format and args) instead, for commands whose result is one object.
func (o *outputFormat) say(w io.Writer, v any, format string, args ...any) error {
	if o.format == "json" {
		return o.write(w, v, nil, nil)
	}
	_, err := fmt.Fprintf(w, format, args...)
	return err
}
