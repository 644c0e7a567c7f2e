package cli

import (
	"fmt"
	"io"

	"github.com/opencoder/coder/codersdk"
)

// printAgentMetadata prints each agent's metadata (coder_agent metadata
// blocks) under the resource table of `coder show`: display name and the
// latest value, or the error, or that the agent has not reported it yet.
func printAgentMetadata(w io.Writer, resources []codersdk.WorkspaceResource) {
	for _, res := range resources {
		if res.Hide {
			continue
		}
		for _, a := range res.Agents {
			if len(a.Metadata) == 0 {
				continue
			}
			fmt.Fprintf(w, "\nAgent %s metadata:\n", a.Name)
			width := 0
			for _, m := range a.Metadata {
				width = max(width, len(metadataName(m)))
			}
			for _, m := range a.Metadata {
				fmt.Fprintf(w, "  %-*s  %s\n", width+1, metadataName(m)+":", metadataText(m.Result))
			}
		}
	}
}

func metadataName(m codersdk.WorkspaceAgentMetadata) string {
	if m.Description.DisplayName != "" {
		return m.Description.DisplayName
	}
	return m.Description.Key
}

func metadataText(r codersdk.WorkspaceAgentMetadataResult) string {
	switch {
	case r.CollectedAt.IsZero():
		return "(not collected yet)"
	case r.Error != "":
		return "error: " + firstLine(r.Error)
	case r.Value == "":
		return "(empty)"
	}
	return firstLine(r.Value)
}
