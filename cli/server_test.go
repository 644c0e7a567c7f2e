package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServerConfigDirEnv: the server's state directory has its own
// variable, CODER_SERVER_CONFIG_DIR, so CODER_CONFIG_DIR (the CLI's
// session) no longer decides it alone; without it the server still
// follows --global-config. A regular file stands in for the directory, so
// the server fails at once, having named the directory it chose.
func TestServerConfigDirEnv(t *testing.T) {
	t.Parallel()
	notADir := func(t *testing.T) string {
		f := filepath.Join(t.TempDir(), "file")
		require.NoError(t, os.WriteFile(f, nil, 0o600))
		return f
	}
	cliDir := t.TempDir()
	cases := []struct {
		name string
		vars func(serverDir string) map[string]string
		args []string
	}{
		{"own variable", func(d string) map[string]string {
			return map[string]string{"CODER_SERVER_CONFIG_DIR": d, "CODER_CONFIG_DIR": cliDir}
		}, nil},
		{"flag beats both variables", func(d string) map[string]string {
			return map[string]string{"CODER_SERVER_CONFIG_DIR": cliDir, "CODER_CONFIG_DIR": cliDir}
		}, []string{"--config-dir", "SERVER_DIR"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := notADir(t)
			e := newEnv(t)
			e.vars = c.vars(dir)
			args := []string{"server", "--http-address", "127.0.0.1:0", "--stun-address", "disable", "--provisioner-daemons", "0"}
			for _, a := range c.args {
				if a == "SERVER_DIR" {
					a = dir
				}
				args = append(args, a)
			}
			// The env harness passes --global-config; the server must not use it.
			stderr := e.fails(args...)
			require.Contains(t, stderr, "Starting built-in PostgreSQL in "+filepath.Join(dir, "postgres"))
		})
	}

	// postgres-builtin-url reads the same directory.
	e := newEnv(t)
	dir := t.TempDir()
	e.vars = map[string]string{"CODER_SERVER_CONFIG_DIR": dir, "CODER_CONFIG_DIR": cliDir}
	require.Contains(t, e.fails("server", "postgres-builtin-url"), filepath.Join(dir, "postgres"))

	// Without it, --global-config (and so CODER_CONFIG_DIR) is the server's too.
	e = newEnv(t)
	require.Contains(t, e.fails("server", "postgres-builtin-url"), filepath.Join(e.configDir, "postgres"))
	require.Contains(t, e.ok("server", "--help"), "Consumes $CODER_SERVER_CONFIG_DIR")
}
