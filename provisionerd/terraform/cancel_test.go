package terraform

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencoder/coder/testutil"
)

func TestBuildCancelInterruptsTerraform(t *testing.T) {
	t.Parallel()
	r := newTestRunner(t, func(o *Options) { o.InterruptGrace = 2 * time.Minute })
	pidFile := filepath.Join(t.TempDir(), "pid")
	meta := testMetadata(TransitionStart)
	meta.WorkspaceID = newUUID() // marks every process of this build

	ctx, cancel := context.WithCancel(testutil.Context(t, testutil.WaitLong))
	defer cancel()
	logs := newLogRecorder(t)
	type outcome struct {
		res *BuildResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := r.Build(ctx, BuildRequest{
			Source: testutil.Tar(t, map[string]string{"main.tf": `
variable "pidfile" {
  type = string
}

resource "terraform_data" "first" {}

resource "terraform_data" "slow" {
  depends_on = [terraform_data.first]
  provisioner "local-exec" {
    command = "echo $$ > ${var.pidfile}; exec sleep 60"
  }
}
`}),
			Metadata:  meta,
			Variables: map[string]string{"pidfile": pidFile},
			Logf:      logs.Logf,
		})
		done <- outcome{res, err}
	}()

	// Wait until the provisioner's sleep runs, then cancel.
	var pid int
	for pid == 0 {
		select {
		case o := <-done:
			logs.dump()
			t.Fatalf("build ended before cancel: %v", o.err)
		case <-ctx.Done():
			t.Fatal("timed out waiting for the provisioner to start")
		case <-time.After(50 * time.Millisecond):
		}
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	cancel()

	var o outcome
	select {
	case o = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("build did not end after cancel")
	}
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", o.err)
	}
	text := logs.text()
	if !strings.Contains(text, "Interrupt received") && !strings.Contains(text, "interrupt") {
		t.Errorf("terraform did not report an interrupt; logs:\n%s", text)
	}
	if o.res == nil || stateInstances(t, o.res.State)["terraform_data.first"] == "" {
		t.Errorf("no partial state after cancel: %+v", o.res)
	}
	if processAlive(pid) {
		t.Errorf("provisioner process %d still running", pid)
	}
	if pids := processesWithEnv("CODER_WORKSPACE_ID=" + meta.WorkspaceID); len(pids) > 0 {
		t.Errorf("processes of the build still running: %v", pids)
	}
	assertWorkDirClean(t, r)
}

// processAlive is false for a missing or zombie process.
func processAlive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// processesWithEnv lists live processes whose environment holds kv.
func processesWithEnv(kv string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, v := range strings.Split(string(b), "\x00") {
			if v == kv && processAlive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
