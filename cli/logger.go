package cli

import (
	"fmt"
	"io"
	"log/slog"
)

// newLogger is the structured logger of the long-running roles (server,
// provisioner daemon) on w: --log-format human or json, --verbose for
// debug messages.
func newLogger(format string, verbose bool, w io.Writer) (*slog.Logger, error) {
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
