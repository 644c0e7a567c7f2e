package cli

import (
	"github.com/spf13/cobra"

	"github.com/opencoder/coder/buildinfo"
)

func (r *Root) versionCmd() *cobra.Command {
	var out outputFormat
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Show the version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := out.validate(); err != nil {
				return err
			}
			info := map[string]string{"version": buildVersion(), "external_url": buildURL()}
			return out.say(r.Stdout, info, "Coder %s\n%s\n", info["version"], info["external_url"])
		},
	}
	out.attach(cmd)
	return cmd
}

func buildVersion() string { return buildinfo.Version() }
func buildURL() string     { return buildinfo.ExternalURL() }
