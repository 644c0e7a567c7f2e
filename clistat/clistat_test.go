package clistat

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fixture copies testdata/name into a temporary root and returns a Statter
// over it whose Wait advances a fake clock by a second and writes the
// second CPU sample (after: path -> content).
func fixture(t *testing.T, name string, after map[string]string) *Statter {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, os.CopyFS(root, os.DirFS(filepath.Join("testdata", name))))
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	return &Statter{
		Root:   root,
		NumCPU: func() int { return 2 },
		Now:    func() time.Time { return now },
		Wait: func(_ context.Context, d time.Duration) error {
			require.Equal(t, DefaultInterval, d)
			// The fixtures' second samples are one second of use.
			now = now.Add(time.Second)
			for p, content := range after {
				require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o600))
			}
			return nil
		},
	}
}

// The second /proc/stat sample: 800 busy of 1600 jiffies on 4 CPUs, 2 cores.
const procStatAfter = "cpu  1400 0 1400 6800 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0\ncpu1 1 0 1 1\ncpu2 1 0 1 1\ncpu3 1 0 1 1\n"

func TestStatFixtures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		after    map[string]string // second CPU sample
		host     bool
		prefix   Prefix
		cpu, mem string
	}{
		{
			name:  "v1-limited",
			after: map[string]string{"sys/fs/cgroup/cpu,cpuacct/cpuacct.usage": "5250000000\n", "proc/stat": procStatAfter},
			cpu:   "0.25/0.5 cores (50%)", prefix: PrefixMebi, mem: "60/256 MiB (23%)",
		},
		{
			name:  "v1-limited host",
			after: map[string]string{"sys/fs/cgroup/cpu,cpuacct/cpuacct.usage": "5250000000\n", "proc/stat": procStatAfter},
			host:  true, cpu: "2/4 cores (50%)", prefix: PrefixGibi, mem: "1/4 GiB (25%)",
		},
		{
			name:  "v1-unlimited",
			after: map[string]string{"sys/fs/cgroup/cpuacct/cpuacct.usage": "2000000000\n", "proc/stat": procStatAfter},
			cpu:   "1/2 cores (50%)", prefix: PrefixGibi, mem: "0.6/4 GiB (15%)",
		},
		{
			name:  "v1-nested",
			after: map[string]string{"sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/ctr/cpuacct.usage": "750000000\n", "proc/stat": procStatAfter},
			cpu:   "0.75/1.5 cores (50%)", prefix: PrefixGibi, mem: "0.25/1 GiB (25%)",
		},
		{
			name:  "v2-limited",
			after: map[string]string{"sys/fs/cgroup/cpu.stat": "usage_usec 2400000\n", "proc/stat": procStatAfter},
			cpu:   "0.4/0.5 cores (80%)", prefix: PrefixMebi, mem: "112/256 MiB (44%)",
		},
		{
			name:  "v2-unlimited",
			after: map[string]string{"sys/fs/cgroup/cpu.stat": "usage_usec 1500000\n", "proc/stat": procStatAfter},
			cpu:   "1.5/2 cores (75%)", prefix: PrefixGibi, mem: "1/4 GiB (25%)",
		},
		{
			// Not a container and no limit: the host's figures.
			name:  "v2-host",
			after: map[string]string{"sys/fs/cgroup/system.slice/coder-agent.service/cpu.stat": "usage_usec 1000000\n", "proc/stat": procStatAfter},
			cpu:   "2/4 cores (50%)", prefix: PrefixGibi, mem: "1/4 GiB (25%)",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := tc.name
			if tc.host {
				dir = "v1-limited"
			}
			s := fixture(t, dir, tc.after)
			cpu, err := s.CPU(context.Background(), tc.host)
			require.NoError(t, err)
			require.Equal(t, tc.cpu, cpu.String())
			mem, err := s.Memory(tc.prefix, tc.host)
			require.NoError(t, err)
			require.Equal(t, tc.mem, mem.String())
		})
	}
}

// JSON is the incumbent's shape: unscaled values, no prefix.
func TestStatJSON(t *testing.T) {
	t.Parallel()
	s := fixture(t, "v1-limited", nil)
	mem, err := s.Memory(PrefixGibi, false)
	require.NoError(t, err)
	b, err := json.Marshal(mem)
	require.NoError(t, err)
	require.JSONEq(t, `{"total":268435456,"unit":"B","used":62914560}`, string(b))
}

func TestStatResultString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r    Result
		want string
	}{
		{Result{Used: 0.5, Total: ptr(2), Unit: "cores"}, "0.5/2 cores (25%)"},
		{Result{Used: 1.2 * (1 << 30), Total: ptr(4 << 30), Unit: "B", Prefix: PrefixGibi}, "1.2/4 GiB (30%)"},
		{Result{Used: 5 << 30, Total: ptr(20 << 30), Unit: "B", Prefix: PrefixGibi}, "5/20 GiB (25%)"},
		{Result{Used: 123.456, Total: ptr(1000), Unit: "B"}, "123/1000 B (12%)"},
		{Result{Used: 12.345, Unit: "cores"}, "12.3 cores"},
		{Result{Used: 0, Total: ptr(0), Unit: "cores"}, "0/0 cores"},
		{Result{Used: 0.00049, Total: ptr(3.14159), Unit: "cores"}, "0/3.14 cores (0%)"},
	} {
		require.Equal(t, tc.want, tc.r.String())
	}
}

func TestStatParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		cores float64
		bad   bool
	}{
		{"max 100000\n", 0, false},
		{"50000 100000\n", 0.5, false},
		{"250000 100000", 2.5, false},
		{"50000", 0, true},
		{"x 100000", 0, true},
		{"50000 0", 0, true},
	} {
		got, err := parseCPUMax(tc.in)
		if tc.bad {
			require.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.InDelta(t, tc.cores, got, 1e-9, tc.in)
	}
	_, err := ParsePrefix("Xi")
	require.ErrorContains(t, err, `unknown prefix "Xi"`)
	p, err := ParsePrefix("Mi")
	require.NoError(t, err)
	require.Equal(t, PrefixMebi, p)
	_, _, _, err = parseProcStat("intr 1\n")
	require.Error(t, err)
	require.Equal(t, "a b", unescapeMount(`a\040b`))
}

// The real machine: figures are consistent with what the kernel reports
// elsewhere (this host runs cgroup v1; CI machines may differ).
func TestStatThisMachine(t *testing.T) {
	t.Parallel()
	s := &Statter{Interval: 50 * time.Millisecond}
	ctx := context.Background()
	host, err := s.HostCPU(ctx)
	require.NoError(t, err)
	require.NotNil(t, host.Total)
	require.GreaterOrEqual(t, *host.Total, float64(runtime.NumCPU()))
	require.GreaterOrEqual(t, host.Used, 0.0)
	require.LessOrEqual(t, host.Used, *host.Total+0.01)

	cpu, err := s.CPU(ctx, false)
	require.NoError(t, err)
	require.NotNil(t, cpu.Total)
	require.Greater(t, *cpu.Total, 0.0)
	require.LessOrEqual(t, *cpu.Total, *host.Total)

	hm, err := s.HostMemory(PrefixGibi)
	require.NoError(t, err)
	require.Greater(t, hm.Used, 0.0)
	require.Less(t, hm.Used, *hm.Total)
	mem, err := s.Memory(PrefixGibi, false)
	require.NoError(t, err)
	require.Greater(t, mem.Used, 0.0, "this test process uses memory")
	require.LessOrEqual(t, *mem.Total, *hm.Total)

	cg, err := s.findCgroups()
	require.NoError(t, err)
	if cg.memory != "" {
		// cgroup v1 (this host): the usage is read from our own memory
		// cgroup, not the hierarchy's root.
		m, ok, err := s.readCgroupMemory(cg)
		require.NoError(t, err)
		require.True(t, ok)
		require.Greater(t, m.used, 0.0)
		require.FileExists(t, filepath.Join(cg.memory, "memory.usage_in_bytes"))
	}

	d, err := Disk("/", PrefixGibi)
	require.NoError(t, err)
	require.Greater(t, *d.Total, 0.0)
	require.LessOrEqual(t, d.Used, *d.Total)
	_, err = Disk(filepath.Join(t.TempDir(), "missing"), PrefixGibi)
	require.ErrorContains(t, err, "statfs")
}
