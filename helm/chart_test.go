package helm_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files from helm template's output")

// helmBin is the helm CLI `make helm` builds; the test fails, saying what
// to run, without it.
func helmBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(testutil.ToolchainDir(t), "bin", "helm")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s not found: run `make helm` first (make test does)", bin)
	}
	return bin
}

func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	// helm keeps caches and config under HOME and XDG dirs: keep them out
	// of the user's.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestChartLint: helm lint --strict passes with the values an install
// needs, and with every optional part switched on.
func TestChartLint(t *testing.T) {
	t.Parallel()
	for _, values := range []string{"testdata/minimal.values.yaml", "testdata/full.values.yaml"} {
		out, err := runHelm(t, "lint", "--strict", "coder", "-f", values)
		require.NoError(t, err, "helm lint with %s:\n%s", values, out)
	}
}

// TestChartTemplateGolden renders the chart with each testdata values
// file and compares the manifests with the golden file beside it (go test
// ./helm -update rewrites them; review the diff).
func TestChartTemplateGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"minimal", "full", "nodeport"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out, err := runHelm(t, "template", "coder", "coder", "--namespace", "coder", "-f", "testdata/"+name+".values.yaml")
			require.NoError(t, err, "%s", out)
			golden := "testdata/" + name + ".golden.yaml"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(out), 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./helm -update to create it")
			require.Equal(t, string(want), out, "helm template differs from %s (go test ./helm -update rewrites it)", golden)
		})
	}
}

// TestChartRefusesBadValues: values an install cannot work with fail at
// template time, naming the value and what to do.
func TestChartRefusesBadValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		set  []string
		want string
	}{
		{"no database", nil, "coder.postgres.urlSecret.name is required"},
		{"service type", []string{"coder.service.type=Internal"}, `coder.service.type "Internal": use ClusterIP, NodePort or LoadBalancer`},
		{"grace", []string{"coder.shutdownGracePeriod=soon"}, `coder.shutdownGracePeriod "soon"`},
		{"ingress host", []string{"coder.ingress.enabled=true"}, "coder.ingress.host is required"},
		{"ingress tls secret", []string{"coder.ingress.enabled=true", "coder.ingress.host=coder.example.com", "coder.ingress.tls.enabled=true"}, "coder.ingress.tls.secretName is required"},
		{"provisioner key", []string{"provisioner.enabled=true"}, "provisioner.keySecret.name is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"template", "coder", "coder"}
			if tc.name != "no database" {
				args = append(args, "--set", "coder.postgres.urlSecret.name=coder-db")
			}
			for _, s := range tc.set {
				args = append(args, "--set", s)
			}
			out, err := runHelm(t, args...)
			require.Error(t, err, "helm template accepted %v:\n%s", tc.set, out)
			require.Contains(t, out, tc.want)
		})
	}
}

// TestChartGraceFollowsShutdownGrace: the pod's termination grace is the
// server's shutdown grace plus the extra and the pre-stop sleep, for each
// duration form.
func TestChartGraceFollowsShutdownGrace(t *testing.T) {
	t.Parallel()
	for grace, want := range map[string]string{"30s": "65", "2m": "155", "1m30s": "125", "1h": "3635"} {
		out, err := runHelm(t, "template", "coder", "coder", "--set", "coder.postgres.urlSecret.name=coder-db",
			"--set", "coder.shutdownGracePeriod="+grace, "--show-only", "templates/coderd.yaml")
		require.NoError(t, err, "%s", out)
		require.Contains(t, out, "terminationGracePeriodSeconds: "+want+"\n", "grace %s", grace)
		require.True(t, strings.Contains(out, `value: "`+grace+`"`), "CODER_SHUTDOWN_GRACE_PERIOD %s", grace)
	}
}
