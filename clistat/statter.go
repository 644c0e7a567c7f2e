package clistat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultInterval is the time between the two CPU samples. Templates run
// `coder stat cpu` as agent metadata with a 1 s timeout (the incumbent's
// published examples do), so sampling plus process start must stay well
// under a second on a busy machine; 100 ms still resolves a single busy
// core to 1%.
const DefaultInterval = 100 * time.Millisecond

// Statter measures the machine (or container) it runs on.
type Statter struct {
	// Root prefixes every /proc and /sys path ("" is the real root).
	Root string
	// Interval between the two CPU samples. Default DefaultInterval.
	Interval time.Duration
	// Wait waits d between the samples. Default: a timer, ended by ctx.
	Wait func(ctx context.Context, d time.Duration) error
	// Now is the clock the CPU rate is computed with. Default time.Now.
	Now func() time.Time
	// NumCPU is how many CPUs this process may use, the total of a
	// cgroup without a CPU limit. Default runtime.NumCPU.
	NumCPU func() int
}

// New returns a Statter of the real machine.
func New() *Statter { return &Statter{} }

func (s *Statter) path(p string) string {
	if s.Root == "" {
		return p
	}
	return filepath.Join(s.Root, p)
}

func (s *Statter) readFile(p string) ([]byte, error) {
	b, err := os.ReadFile(s.path(p))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return b, nil
}

func (s *Statter) wait(ctx context.Context) error {
	d := s.Interval
	if d <= 0 {
		d = DefaultInterval
	}
	if s.Wait != nil {
		return s.Wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (s *Statter) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Statter) numCPU() int {
	if s.NumCPU != nil {
		return s.NumCPU()
	}
	return runtime.NumCPU()
}

// CPU measures CPU use in cores over Interval. Unless host is set, inside a
// container (or a cgroup with a CPU quota) it is the cgroup's use against
// its quota, or against the CPUs this process may use when there is none.
func (s *Statter) CPU(ctx context.Context, host bool) (Result, error) {
	if !host {
		cg, err := s.findCgroups()
		if err == nil {
			first, ok, err := s.readCgroupCPU(cg)
			if err != nil {
				return Result{}, fmt.Errorf("container cpu: %w", err)
			}
			if ok && (first.limit > 0 || s.containerized(cg)) {
				return s.cgroupCPU(ctx, cg, first)
			}
		}
	}
	return s.HostCPU(ctx)
}

func (s *Statter) cgroupCPU(ctx context.Context, cg cgroups, first cgroupCPU) (Result, error) {
	t0 := s.now()
	if err := s.wait(ctx); err != nil {
		return Result{}, fmt.Errorf("container cpu: %w", err)
	}
	second, _, err := s.readCgroupCPU(cg)
	if err != nil {
		return Result{}, fmt.Errorf("container cpu: %w", err)
	}
	elapsed := s.now().Sub(t0).Seconds()
	total := first.limit
	if total <= 0 {
		total = float64(s.numCPU())
	}
	r := Result{Unit: "cores", Total: ptr(total)}
	if elapsed > 0 && second.usageSeconds >= first.usageSeconds {
		// Accounting and the clock are read at slightly different
		// moments: a saturated container can come out a little above its
		// limit, which would only confuse.
		r.Used = min((second.usageSeconds-first.usageSeconds)/elapsed, total)
	}
	return r, nil
}

// HostCPU measures the whole machine's CPU use from /proc/stat: the share
// of non-idle time over Interval, times the number of CPUs.
func (s *Statter) HostCPU(ctx context.Context) (Result, error) {
	busy1, all1, n, err := s.procStat()
	if err != nil {
		return Result{}, err
	}
	if err := s.wait(ctx); err != nil {
		return Result{}, fmt.Errorf("host cpu: %w", err)
	}
	busy2, all2, _, err := s.procStat()
	if err != nil {
		return Result{}, err
	}
	r := Result{Unit: "cores", Total: ptr(float64(n))}
	if all2 > all1 && busy2 >= busy1 {
		r.Used = float64(busy2-busy1) / float64(all2-all1) * float64(n)
	}
	return r, nil
}

// procStat reads the aggregate "cpu" line of /proc/stat: busy and total
// jiffies (guest time is already in user and nice), and the CPU count.
func (s *Statter) procStat() (busy, all uint64, n int, err error) {
	b, err := s.readFile("/proc/stat")
	if err != nil {
		return 0, 0, 0, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(text string) (busy, all uint64, n int, err error) {
	found := false
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			n++
			continue
		}
		if len(f) < 5 {
			return 0, 0, 0, fmt.Errorf("parse /proc/stat: short cpu line %q", line)
		}
		found = true
		for i, v := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
			x, perr := strconv.ParseUint(v, 10, 64)
			if perr != nil {
				return 0, 0, 0, fmt.Errorf("parse /proc/stat: %w", perr)
			}
			all += x
			if i != 3 && i != 4 { // idle, iowait
				busy += x
			}
		}
	}
	if !found || n == 0 {
		return 0, 0, 0, fmt.Errorf("parse /proc/stat: no cpu lines")
	}
	return busy, all, n, nil
}

// Memory measures memory use in bytes. Unless host is set, inside a
// container (or a cgroup with a memory limit) it is the cgroup's use
// (less inactive file cache) against its limit, or against the host's
// memory when there is none.
func (s *Statter) Memory(p Prefix, host bool) (Result, error) {
	if !host {
		cg, err := s.findCgroups()
		if err == nil {
			m, ok, err := s.readCgroupMemory(cg)
			if err != nil {
				return Result{}, fmt.Errorf("container memory: %w", err)
			}
			if ok && (m.limit > 0 || s.containerized(cg)) {
				total := m.limit
				if hostTotal, _, herr := s.meminfo(); herr == nil && (total <= 0 || total > hostTotal) {
					total = hostTotal
				}
				r := Result{Unit: "B", Used: m.used, Prefix: p}
				if total > 0 {
					r.Total = ptr(total)
				}
				return r, nil
			}
		}
	}
	return s.HostMemory(p)
}

// HostMemory measures the machine's memory from /proc/meminfo: used is
// MemTotal - MemAvailable (cache the kernel can drop is not "used").
func (s *Statter) HostMemory(p Prefix) (Result, error) {
	total, avail, err := s.meminfo()
	if err != nil {
		return Result{}, err
	}
	return Result{Unit: "B", Total: ptr(total), Used: total - avail, Prefix: p}, nil
}

func (s *Statter) meminfo() (total, avail float64, err error) {
	p := s.path("/proc/meminfo")
	t, err := readKey(p, "MemTotal")
	if err != nil {
		return 0, 0, err
	}
	a, err := readKey(p, "MemAvailable")
	if err != nil {
		return 0, 0, err
	}
	return float64(t) * 1024, float64(a) * 1024, nil
}

// containerized reports whether this process sees a container's view of
// the machine: Docker's or Podman's marker file, a cgroup mount rooted at
// the container's cgroup, or a unified hierarchy whose top is not the
// real root (the root cgroup has no cpu.max or memory.max).
func (s *Statter) containerized(cg cgroups) bool {
	if cg.container || exists(s.path("/.dockerenv")) || exists(s.path("/run/.containerenv")) {
		return true
	}
	if cg.v2Top != "" && (exists(filepath.Join(cg.v2Top, "memory.max")) || exists(filepath.Join(cg.v2Top, "cpu.max"))) {
		return true
	}
	if b, err := s.readFile("/proc/1/cgroup"); err == nil {
		for _, marker := range []string{"/docker", "/kubepods", "/containerd", "/libpod", "/lxc"} {
			if strings.Contains(string(b), marker) {
				return true
			}
		}
	}
	return false
}

// Disk measures the filesystem holding path: used is total less free
// blocks, as df counts it.
func Disk(path string, p Prefix) (Result, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return Result{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := float64(st.Frsize)
	if bs <= 0 {
		bs = float64(st.Bsize)
	}
	return Result{Unit: "B", Total: ptr(float64(st.Blocks) * bs), Used: float64(st.Blocks-st.Bfree) * bs, Prefix: p}, nil
}
