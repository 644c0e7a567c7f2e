package testutil

import (
	"fmt"
	"os"

	"go.uber.org/goleak"
)

// LeakCheck is goleak.VerifyTestMain for a TestMain that runs the tests
// itself (through dbtestutil.Main, say): given the run's exit code, it
// checks, after a passing run, that no goroutine outlived the tests and
// their cleanups, and returns the code to exit with.
//
//	func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(dbtestutil.Main(m))) }
func LeakCheck(code int, opts ...goleak.Option) int {
	if code != 0 {
		return code
	}
	if err := goleak.Find(opts...); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		return 1
	}
	return 0
}
