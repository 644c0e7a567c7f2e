package cli

import (
	"encoding/json"
	"regexp"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// statJSON is what `coder stat cpu|mem|disk -o json` prints.
type statJSON struct {
	Total *float64 `json:"total"`
	Unit  string   `json:"unit"`
	Used  float64  `json:"used"`
}

func TestStatCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fast := "--interval=20ms"

	// Text: "used/total unit (pct%)", the incumbent's format.
	out := e.ok("stat", "cpu", fast)
	require.Regexp(t, regexp.MustCompile(`^[0-9.]+/[0-9.]+ cores \([0-9]+%\)\n$`), out)
	out = e.ok("stat", "mem", "--prefix", "Mi")
	require.Regexp(t, regexp.MustCompile(`^[0-9.]+/[0-9.]+ MiB \([0-9]+%\)\n$`), out)
	out = e.ok("stat", "disk", "--path", t.TempDir())
	require.Regexp(t, regexp.MustCompile(`^[0-9.]+/[0-9.]+ GiB \([0-9]+%\)\n$`), out)

	var cpu, mem, hostMem statJSON
	require.NoError(t, json.Unmarshal([]byte(e.ok("stat", "cpu", "--host", fast, "-o", "json")), &cpu))
	require.Equal(t, "cores", cpu.Unit)
	require.NotNil(t, cpu.Total)
	require.GreaterOrEqual(t, *cpu.Total, float64(runtime.NumCPU()))
	require.NoError(t, json.Unmarshal([]byte(e.ok("stat", "mem", "-o", "json")), &mem))
	require.Equal(t, "B", mem.Unit)
	require.NoError(t, json.Unmarshal([]byte(e.ok("stat", "mem", "--host", "-o", "json")), &hostMem))
	require.NotNil(t, mem.Total)
	require.LessOrEqual(t, *mem.Total, *hostMem.Total, "a container's total never exceeds the host's")
	require.Greater(t, mem.Used, 0.0)

	out = e.ok("stat", fast)
	require.Contains(t, out, "HOST CPU")
	require.Contains(t, out, "CONTAINER MEMORY")
	var all []map[string]statJSON
	require.NoError(t, json.Unmarshal([]byte(e.ok("stat", fast, "-o", "json")), &all))
	require.Len(t, all, 1)
	require.Equal(t, "cores", all[0]["host_cpu"].Unit)
	require.Equal(t, "B", all[0]["home_disk"].Unit)

	out = e.ok("stat", "-c", "host memory,home disk")
	require.Regexp(t, regexp.MustCompile(`^HOST MEMORY +HOME DISK\n[0-9.]+/[0-9.]+ GiB \([0-9]+%\) +[0-9.]+/[0-9.]+ GiB \([0-9]+%\)\n$`), out)
	require.Contains(t, e.fails("stat", "-c", "gpu"), `--column "gpu"`)
	require.Contains(t, e.fails("stat", "mem", "--prefix", "Xi"), `--prefix: unknown prefix "Xi"`)
	require.Contains(t, e.fails("stat", "cpu", "-o", "yaml"), `unknown output format "yaml"`)
	require.Contains(t, e.fails("stat", "disk", "--path", "/does/not/exist"), "statfs /does/not/exist")
}
