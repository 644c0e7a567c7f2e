// Package buildinfo reports the binary's version, set at link time with
// -ldflags "-X github.com/opencoder/coder/buildinfo.tag=v1.2.3", falling
// back to the VCS data Go embeds.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// tag is set by the linker for release builds.
var tag string

// Version is the build's version, e.g. "v0.1.0" or "v0.0.0-devel+abc1234".
func Version() string {
	if tag != "" {
		return tag
	}
	v := "v0.0.0-devel"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 7 {
				v += "+" + s.Value[:7]
			}
		}
	}
	return v
}

// ExternalURL links to the source of this build.
func ExternalURL() string {
	v := Version()
	if i := strings.Index(v, "+"); i >= 0 {
		return "https://github.com/opencoder/coder/commit/" + v[i+1:]
	}
	return "https://github.com/opencoder/coder"
}
