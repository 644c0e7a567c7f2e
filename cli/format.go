package cli

import (
	"strings"
	"time"

	"github.com/opencoder/coder/humanize"
)

// This file holds the CLI's one formatter for each kind of value shown to
// people: times (absolute and relative), byte counts, plurals and text.

// relativeTime says how long ago t was, coarsely, for tables (see
// humanize.Ago, which the dashboard uses too).
func relativeTime(t time.Time) string { return humanize.Ago(time.Now(), t) }

// formatTime is an absolute time in the local zone, or "never" for a time
// that was not set.
func formatTime(t time.Time) string {
	if never(t) {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

// never reports an unset time: zero, or the year 1 a database NULL decodes to.
func never(t time.Time) bool { return humanize.Never(t) }

// formatBytes is a byte count in binary units: "512 B", "1.5 KiB", "2.0 MiB".
func formatBytes(n int64) string { return humanize.Bytes(n) }

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// titleCase capitalizes the first letter (ASCII).
func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// firstLine is the first line of s, trimmed.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
