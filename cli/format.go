package cli

import (
	"fmt"
	"strings"
	"time"
)

// This file holds the CLI's one formatter for each kind of value shown to
// people: times (absolute and relative), byte counts, plurals and text.

// relativeTime says how long ago t was, coarsely, for tables: "never",
// "just now", "5m ago", "3h ago", "12d ago". A time slightly in the future
// (clock skew between hosts) is "just now".
func relativeTime(t time.Time) string {
	if never(t) {
		return "never"
	}
	d := max(time.Since(t), 0)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// formatTime is an absolute time in the local zone, or "never" for a time
// that was not set.
func formatTime(t time.Time) string {
	if never(t) {
		return "never"
	}
	return t.Local().Format(time.DateTime)
}

// never reports an unset time: zero, or the year 1 a database NULL decodes to.
func never(t time.Time) bool { return t.IsZero() || t.Year() <= 1 }

// formatBytes is a byte count in binary units: "512 B", "1.5 KiB", "2.0 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

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
