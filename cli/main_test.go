package cli

import (
	"os"
	"testing"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
)

// TestMain runs the tests against the shared PostgreSQL and then checks
// that no goroutine outlived them: every command, server, agent and
// connection a test starts is joined by its end.
func TestMain(m *testing.M) { os.Exit(dbtestutil.MainCheckLeaks(m)) }
