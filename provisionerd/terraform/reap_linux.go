package terraform

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// reapProcesses SIGKILLs every process whose working directory is dir or
// below it, and returns their ids. Terraform, its provider plugins and the
// commands of local-exec provisioners all start there, so this finds what a
// killed (or careless) Terraform left running: no process outlives its job.
func reapProcesses(dir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !within(dir, cwd) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}
