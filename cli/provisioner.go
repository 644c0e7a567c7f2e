package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/opencoder/coder/codersdk"
)

func (r *Root) provisionerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "provisioner",
		Aliases: []string{"provisioners"},
		Short:   "Run and manage provisioner daemons, the workers that run template Terraform",
	}
	cmd.AddCommand(r.provisionerStartCmd(), r.provisionerListCmd(), r.provisionerKeysCmd())
	return cmd
}

// parseProvisionerTags turns repeated "key=value" flags into a map. A value
// may be empty ("owner="); a key may not, and may be given only once.
func parseProvisionerTags(raw []string) (map[string]string, error) {
	tags := make(map[string]string, len(raw))
	for _, kv := range raw {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return nil, fmt.Errorf("tag %q: want key=value", kv)
		case k == "":
			return nil, fmt.Errorf("tag %q: the key is empty", kv)
		case strings.ContainsRune(kv, 0):
			return nil, fmt.Errorf("tag %q: contains a NUL byte", kv)
		}
		if prev, dup := tags[k]; dup && prev != v {
			return nil, fmt.Errorf("tag %q given twice (%s=%s and %s=%s)", k, k, prev, k, v)
		}
		tags[k] = v
	}
	return tags, nil
}

// formatProvisionerTags is "k=v, k2=v2" in key order.
func formatProvisionerTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ", ")
}

func describeDaemonTags(tags map[string]string, withKey bool) string {
	switch {
	case len(tags) > 0:
		return formatProvisionerTags(tags)
	case withKey:
		return "those of the provisioner key"
	default:
		return "none: untagged jobs only"
	}
}

func (r *Root) provisionerListCmd() *cobra.Command {
	return orgListCmd(r, orgList[codersdk.ProvisionerDaemon]{
		short:  "List the provisioner daemons seen in the last day",
		what:   "provisioner daemons",
		fetch:  (*codersdk.Client).ProvisionerDaemons,
		header: []string{"name", "tags", "version", "status", "last seen", "current job"},
		row: func(d codersdk.ProvisionerDaemon) []string {
			job := "-"
			if d.CurrentJob != nil {
				job = d.CurrentJob.String()
			}
			return []string{d.Name, formatProvisionerTags(d.Tags), d.Version, d.Status, relativeTime(d.LastSeenAt), job}
		},
	})
}
