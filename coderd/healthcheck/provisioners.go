package healthcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// Provisioners judges the daemons seen lately (with their status already
// computed, as the daemon list shows them): it fails when none is online,
// since then no template imports and no workspace builds. A daemon on
// another major protocol version, or online without current work for a
// long time, is listed; an incompatible one is a warning.
func Provisioners(daemons []codersdk.ProvisionerDaemon, now time.Time) codersdk.HealthCheck {
	check := codersdk.HealthCheck{}
	var lastSeen time.Time
	for _, d := range daemons {
		line := fmt.Sprintf("%s: %s, version %s, protocol %s, last seen %s ago", d.Name, d.Status, orDash(d.Version), orDash(d.APIVersion), now.Sub(d.LastSeenAt).Round(time.Second))
		if len(d.Tags) > 0 {
			var tags []string
			for _, k := range slices.Sorted(maps.Keys(d.Tags)) {
				tags = append(tags, k+"="+d.Tags[k])
			}
			line += ", tags " + strings.Join(tags, " ")
		}
		check.Details = append(check.Details, line)
		if d.LastSeenAt.After(lastSeen) {
			lastSeen = d.LastSeenAt
		}
		if d.Status == "offline" {
			continue
		}
		check.Healthy = true
		if major(d.APIVersion) != major(codersdk.ProvisionerAPIVersion) {
			check.Warnings = append(check.Warnings, fmt.Sprintf("daemon %s speaks protocol %s, this server %s: it may fail every job", d.Name, orDash(d.APIVersion), codersdk.ProvisionerAPIVersion))
		}
	}
	switch {
	case len(daemons) == 0:
		check.Error = "no provisioner daemon has connected in the last 24 hours: templates cannot be imported nor workspaces built (start coder server with built-in provisioners, or run coder provisioner start)"
	case !check.Healthy:
		check.Error = fmt.Sprintf("every provisioner daemon is offline (the last one was seen %s ago): templates cannot be imported nor workspaces built", now.Sub(lastSeen).Round(time.Second))
	}
	return check
}

func major(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
