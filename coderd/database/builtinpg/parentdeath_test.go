//go:build linux

package builtinpg_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/testutil"
)

// helperDirEnv makes the test binary act as a `coder server` stand-in.
const helperDirEnv = "BUILTINPG_TEST_HELPER_DIR"

// TestHelperServer is not a test: run by TestServerDiesWithParent in a child
// process, it starts a server in the named directory and waits to be killed.
func TestHelperServer(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		return
	}
	ctx := testutil.Context(t, testutil.WaitLong)
	s, err := builtinpg.Start(ctx, builtinpg.Options{Dir: dir, Fast: true})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready", s.Port())
	<-ctx.Done()
}

func TestServerDiesWithParent(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	dir := t.TempDir()

	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperServer$", "-test.count=1")
	helper.Env = append(os.Environ(), helperDirEnv+"="+dir)
	out, err := helper.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, helper.Start())
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Contains(t, line, "ready")
	pid := postmasterPID(t, dir)

	// The owner dies without a chance to clean up.
	require.NoError(t, helper.Process.Kill())
	_ = helper.Wait()
	require.Eventually(t, func() bool { return processGone(pid) }, time.Minute, 20*time.Millisecond, "postgres (pid %d) outlived its parent", pid)

	// A new owner takes over the same directory at once.
	s := start(ctx, t, builtinpg.Options{Dir: dir, Fast: true})
	require.NoError(t, s.Stop(context.Background()))
}

// processGone reports whether pid has exited (a zombie counts: without a
// reaping init, an orphan's corpse lingers).
func processGone(pid int) bool {
	if syscall.Kill(pid, 0) == syscall.ESRCH {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
