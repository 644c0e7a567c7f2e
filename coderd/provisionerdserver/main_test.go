package provisionerdserver

import (
	"os"
	"testing"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/testutil"
)

// TestMain runs the tests on real PostgreSQL (dbtestutil), then fails the
// run if any goroutine (a reaper, a subscription) outlived them.
func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(dbtestutil.Main(m))) }
