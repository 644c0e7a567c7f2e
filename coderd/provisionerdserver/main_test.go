package provisionerdserver

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/opencoder/coder/coderd/database/dbtestutil"
)

// TestMain runs the tests on real PostgreSQL (dbtestutil), then fails the
// run if any goroutine (a reaper, a subscription) outlived them.
func TestMain(m *testing.M) {
	code := dbtestutil.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
