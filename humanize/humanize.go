// Package humanize formats values for people the same way everywhere the
// product shows them: the CLI's tables and the dashboard's pages.
package humanize

import (
	"fmt"
	"time"
)

// Never reports an unset time: zero, or the year 1 a database NULL decodes
// to.
func Never(t time.Time) bool { return t.IsZero() || t.Year() <= 1 }

// Ago says how long before now t was, coarsely, for lists: "never",
// "just now", "40s ago", "5m ago", "3h ago", "12d ago". A time slightly in
// the future (clock skew between hosts) is "just now".
func Ago(now, t time.Time) string {
	if Never(t) {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

// Bytes is a byte count in binary units: "512 B", "1.5 KiB", "2.0 MiB".
func Bytes(n int64) string {
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

// Duration is how long something took, for lists: "120ms", "3.2s",
// "1m5s", "2h3m" (coarser as it grows; never negative).
func Duration(d time.Duration) string {
	d = max(d, 0)
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	if r := d.Round(time.Second); r < time.Hour {
		return fmt.Sprintf("%dm%ds", int(r.Minutes()), int(r.Seconds())%60)
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
}
