package clistat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// cgroupV1Unlimited: a v1 limit at or above this is "no limit" (the kernel
// writes PAGE_COUNTER_MAX pages, 9223372036854771712 on 4 KiB pages).
const cgroupV1Unlimited = int64(1) << 62

// cgroups are the directories that hold this process's cgroup files, one
// per controller that was found. Each dir is below Statter.Root; each top
// is the directory of its mount, the highest level a limit is looked for.
type cgroups struct {
	v2, v2Top           string // the unified hierarchy ("" when not mounted)
	cpu, cpuTop         string // v1 cpu controller (cfs quota)
	cpuacct, cpuacctTop string // v1 cpuacct controller (usage)
	memory, memoryTop   string // v1 memory controller
	container           bool   // the mounts show a container's view
}

type mount struct {
	root, point, fstype string
	opts                map[string]bool
}

// findCgroups reads /proc/self/cgroup and /proc/self/mountinfo and resolves
// each controller's directory for this process. A controller that is not
// mounted is left empty.
func (s *Statter) findCgroups() (cgroups, error) {
	var cg cgroups
	member, err := s.readFile("/proc/self/cgroup")
	if err != nil {
		return cg, err
	}
	paths := map[string]string{} // controller ("" for v2) -> cgroup path
	for _, line := range strings.Split(strings.TrimSpace(string(member)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	info, err := s.readFile("/proc/self/mountinfo")
	if err != nil {
		return cg, err
	}
	var mounts []mount
	for _, line := range strings.Split(string(info), "\n") {
		// id parent major:minor root point options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") {
			continue
		}
		m := mount{root: unescapeMount(f[3]), point: unescapeMount(f[4]), fstype: g[0], opts: map[string]bool{}}
		for _, o := range strings.Split(g[2], ",") {
			m.opts[o] = true
		}
		mounts = append(mounts, m)
	}
	resolve := func(m mount, cgPath string) (dir, top string) {
		top = s.path(m.point)
		rel := cgPath
		if m.root != "/" {
			// Without a cgroup namespace the mount's root is the
			// container's own cgroup, and our path starts with it.
			if r, ok := strings.CutPrefix(cgPath, m.root); ok {
				rel = r
			}
		}
		dir = filepath.Join(top, path.Clean("/"+rel))
		if _, err := os.Stat(dir); err != nil {
			// Our cgroup is not visible below the mount (a namespace
			// we cannot see out of): the mount itself is our cgroup.
			dir = top
		}
		return dir, top
	}
	for _, m := range mounts {
		if m.root != "/" {
			cg.container = true
		}
		if m.fstype == "cgroup2" {
			if p, ok := paths[""]; ok && cg.v2 == "" {
				cg.v2, cg.v2Top = resolve(m, p)
			}
			continue
		}
		for c, dst := range map[string][2]*string{
			"cpu": {&cg.cpu, &cg.cpuTop}, "cpuacct": {&cg.cpuacct, &cg.cpuacctTop}, "memory": {&cg.memory, &cg.memoryTop},
		} {
			if p, ok := paths[c]; ok && m.opts[c] && *dst[0] == "" {
				*dst[0], *dst[1] = resolve(m, p)
			}
		}
	}
	return cg, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupCPU is one sample of a cgroup's CPU accounting.
type cgroupCPU struct {
	usageSeconds float64 // cumulative CPU time of every task in the cgroup
	limit        float64 // cores allowed by the CFS quota; 0 for none
}

// readCgroupCPU samples the cgroup's CPU usage and quota. ok is false when
// neither hierarchy accounts CPU for this process.
func (s *Statter) readCgroupCPU(cg cgroups) (sample cgroupCPU, ok bool, err error) {
	if cg.v2 != "" && exists(filepath.Join(cg.v2, "cpu.stat")) && exists(filepath.Join(cg.v2, "cpu.max")) {
		usec, err := readKey(filepath.Join(cg.v2, "cpu.stat"), "usage_usec")
		if err != nil {
			return sample, false, err
		}
		sample.usageSeconds = float64(usec) / 1e6
		sample.limit, err = walkMin(cg.v2, cg.v2Top, readCPUMax)
		return sample, true, err
	}
	if cg.cpuacct == "" || !exists(filepath.Join(cg.cpuacct, "cpuacct.usage")) {
		return sample, false, nil
	}
	ns, err := readInt(filepath.Join(cg.cpuacct, "cpuacct.usage"))
	if err != nil {
		return sample, false, err
	}
	sample.usageSeconds = float64(ns) / 1e9
	if cg.cpu != "" {
		sample.limit, err = walkMin(cg.cpu, cg.cpuTop, readCFSQuota)
	}
	return sample, true, err
}

// readCPUMax reads a v2 cpu.max ("max 100000" or "50000 100000") as cores.
func readCPUMax(dir string) (float64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cpu.max: %w", err)
	}
	return parseCPUMax(string(b))
}

func parseCPUMax(s string) (float64, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("parse cpu.max %q: want QUOTA PERIOD", s)
	}
	if f[0] == "max" {
		return 0, nil
	}
	quota, err1 := strconv.ParseInt(f[0], 10, 64)
	period, err2 := strconv.ParseInt(f[1], 10, 64)
	if err := errors.Join(err1, err2); err != nil || period <= 0 {
		return 0, fmt.Errorf("parse cpu.max %q: %w", s, err)
	}
	return float64(quota) / float64(period), nil
}

// readCFSQuota reads v1 cpu.cfs_quota_us / cpu.cfs_period_us as cores;
// a quota of -1 is no limit.
func readCFSQuota(dir string) (float64, error) {
	qf := filepath.Join(dir, "cpu.cfs_quota_us")
	if !exists(qf) {
		return 0, nil
	}
	quota, err := readInt(qf)
	if err != nil {
		return 0, err
	}
	period, err := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
	if err != nil {
		return 0, err
	}
	if quota <= 0 || period <= 0 {
		return 0, nil
	}
	return float64(quota) / float64(period), nil
}

// cgroupMemory is a cgroup's memory use and limit in bytes.
type cgroupMemory struct {
	used  float64 // usage less inactive file cache, as `docker stats`
	limit float64 // 0 for none
}

// readCgroupMemory reads the cgroup's memory usage and limit. ok is false
// when neither hierarchy accounts memory for this process.
func (s *Statter) readCgroupMemory(cg cgroups) (m cgroupMemory, ok bool, err error) {
	var usage, inactive int64
	switch {
	case cg.v2 != "" && exists(filepath.Join(cg.v2, "memory.current")):
		if usage, err = readInt(filepath.Join(cg.v2, "memory.current")); err != nil {
			return m, false, err
		}
		inactive, _ = readKey(filepath.Join(cg.v2, "memory.stat"), "inactive_file")
		m.limit, err = walkMin(cg.v2, cg.v2Top, readMemoryMax)
	case cg.memory != "" && exists(filepath.Join(cg.memory, "memory.usage_in_bytes")):
		if usage, err = readInt(filepath.Join(cg.memory, "memory.usage_in_bytes")); err != nil {
			return m, false, err
		}
		inactive, _ = readKey(filepath.Join(cg.memory, "memory.stat"), "total_inactive_file")
		m.limit, err = walkMin(cg.memory, cg.memoryTop, readMemoryLimitV1)
	default:
		return m, false, nil
	}
	m.used = float64(max(usage-inactive, 0))
	return m, true, err
}

func readMemoryMax(dir string) (float64, error) {
	b, err := os.ReadFile(filepath.Join(dir, "memory.max"))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read memory.max: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "max" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s/memory.max: %w", dir, err)
	}
	return float64(n), nil
}

func readMemoryLimitV1(dir string) (float64, error) {
	f := filepath.Join(dir, "memory.limit_in_bytes")
	if !exists(f) {
		return 0, nil
	}
	n, err := readInt(f)
	if err != nil || n <= 0 || n >= cgroupV1Unlimited {
		return 0, err
	}
	return float64(n), nil
}

// walkMin reads a limit at dir and each parent up to top and returns the
// smallest one set (0 for none): a container's limit may sit on a parent
// of the cgroup its processes are in.
func walkMin(dir, top string, read func(string) (float64, error)) (float64, error) {
	var lowest float64
	for {
		v, err := read(dir)
		if err != nil {
			return 0, err
		}
		if v > 0 && (lowest == 0 || v < lowest) {
			lowest = v
		}
		if dir == top || len(dir) <= len(top) || !strings.HasPrefix(dir, top) {
			return lowest, nil
		}
		dir = filepath.Dir(dir)
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func readInt(p string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", p, err)
	}
	return n, nil
}

// readKey reads the value of "key N" in a flat-keyed file (cpu.stat,
// memory.stat, /proc/meminfo without its unit).
func readKey(p, key string) (int64, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", p, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && strings.TrimSuffix(f[0], ":") == key {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %s: %w", p, key, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: no %q", p, key)
}
