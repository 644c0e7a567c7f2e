//go:build !unix

package terraform

import "context"

// lockFile is a no-op where flock does not exist: concurrent daemons sharing
// one plugin cache are then not serialised.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
