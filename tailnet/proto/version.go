package proto

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is the coordination protocol version, "major.minor". A node sends
// it (as the "version" query parameter of the coordinate endpoint) so coderd
// can refuse incompatible peers with a clear error. Bump the minor version
// for additive changes and the major version for anything a peer of the
// previous version would misread.
//
// Changelog:
//   - 1.0 (2026-11-23): first version: Node, CoordinateRequest{UpdateSelf,
//     AddTunnel, RemoveTunnel, Disconnect}, CoordinateResponse{PeerUpdates,
//     Error, ErrorCode}, peer update kinds node/disconnected/lost.
const Version = "1.0"

// CurrentMajor and CurrentMinor are Version split for comparisons.
const (
	CurrentMajor = 1
	CurrentMinor = 0
)

// ErrUnsupportedVersion is returned by CheckVersion for a version this build
// cannot speak.
var ErrUnsupportedVersion = errors.New("unsupported coordination protocol version")

// CheckVersion reports whether a peer speaking version v ("major.minor") can
// coordinate with this build: same major, any minor (minor changes are
// additive). An empty v is treated as the current version.
func CheckVersion(v string) error {
	if v == "" {
		return nil
	}
	majorText, _, ok := strings.Cut(v, ".")
	if !ok {
		return fmt.Errorf("parse version %q: %w", v, ErrUnsupportedVersion)
	}
	major, err := strconv.Atoi(majorText)
	if err != nil {
		return fmt.Errorf("parse version %q: %w", v, ErrUnsupportedVersion)
	}
	if major != CurrentMajor {
		return fmt.Errorf("version %q, want %d.x: %w", v, CurrentMajor, ErrUnsupportedVersion)
	}
	return nil
}
