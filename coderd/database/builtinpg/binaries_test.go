package builtinpg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeInstall creates dir with the given (empty, executable) programs.
func fakeInstall(t *testing.T, dir string, names ...string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, n := range names {
		require.NoError(t, os.WriteFile(filepath.Join(dir, exeName(n)), []byte("#!/bin/sh\n"), 0o755))
	}
	return dir
}

func TestFindBinaries(t *testing.T) {
	t.Parallel()
	all := []string{"initdb", "pg_ctl", "postgres"}

	tests := []struct {
		name string
		// setup returns PATH and the Debian root, under root.
		setup   func(t *testing.T, root string) (pathEnv, debRoot string)
		wantDir func(root string) string // "" means ErrNotInstalled
	}{
		{
			name: "nothing installed",
			setup: func(t *testing.T, root string) (string, string) {
				empty := fakeInstall(t, filepath.Join(root, "empty"))
				clientsOnly := fakeInstall(t, filepath.Join(root, "clients"), "psql", "pg_dump")
				return empty + string(os.PathListSeparator) + clientsOnly, filepath.Join(root, "no-such-dir")
			},
		},
		{
			name: "incomplete install on PATH",
			setup: func(t *testing.T, root string) (string, string) {
				return fakeInstall(t, filepath.Join(root, "bin"), "initdb", "pg_ctl"), filepath.Join(root, "none")
			},
		},
		{
			name: "on PATH",
			setup: func(t *testing.T, root string) (string, string) {
				first := fakeInstall(t, filepath.Join(root, "a"), "psql")
				second := fakeInstall(t, filepath.Join(root, "b"), all...)
				return "relative/bin" + string(os.PathListSeparator) + first + string(os.PathListSeparator) + second, filepath.Join(root, "none")
			},
			wantDir: func(root string) string { return filepath.Join(root, "b") },
		},
		{
			name: "Debian, highest complete version",
			setup: func(t *testing.T, root string) (string, string) {
				deb := filepath.Join(root, "usr-lib-postgresql")
				fakeInstall(t, filepath.Join(deb, "9.6", "bin"), all...)
				fakeInstall(t, filepath.Join(deb, "13", "bin"), all...)
				fakeInstall(t, filepath.Join(deb, "17", "bin"), "pg_ctl") // client-only
				require.NoError(t, os.MkdirAll(filepath.Join(deb, "not-a-version", "bin"), 0o755))
				return "", deb
			},
			wantDir: func(root string) string { return filepath.Join(root, "usr-lib-postgresql", "13", "bin") },
		},
		{
			name: "PATH wins over Debian",
			setup: func(t *testing.T, root string) (string, string) {
				deb := filepath.Join(root, "deb")
				fakeInstall(t, filepath.Join(deb, "16", "bin"), all...)
				return fakeInstall(t, filepath.Join(root, "bin"), all...), deb
			},
			wantDir: func(root string) string { return filepath.Join(root, "bin") },
		},
		{
			name: "symlinks resolve to one installation",
			setup: func(t *testing.T, root string) (string, string) {
				target := fakeInstall(t, filepath.Join(root, "lib", "15", "bin"), all...)
				link := filepath.Join(root, "local-bin")
				require.NoError(t, os.MkdirAll(link, 0o755))
				for _, n := range all {
					require.NoError(t, os.Symlink(filepath.Join(target, n), filepath.Join(link, n)))
				}
				return link, ""
			},
			wantDir: func(root string) string { return filepath.Join(root, "lib", "15", "bin") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root, err := filepath.EvalSymlinks(t.TempDir())
			require.NoError(t, err)
			pathEnv, deb := tc.setup(t, root)
			dir, err := findBinaries(pathEnv, deb)
			if tc.wantDir == nil {
				require.ErrorIs(t, err, ErrNotInstalled)
				require.Contains(t, err.Error(), "apt-get install postgresql")
				require.Contains(t, err.Error(), "make deps")
				require.Empty(t, dir)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantDir(root), dir)
		})
	}
}

func TestDebianVersionsOrder(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	for _, v := range []string{"9.6", "10", "15", "9.5", "x"} {
		require.NoError(t, os.Mkdir(filepath.Join(root, v), 0o755))
	}
	require.Equal(t, "15,10,9.6,9.5", strings.Join(debianVersions(root), ","))
}

func TestFindBinariesOnThisMachine(t *testing.T) {
	t.Parallel()
	// The repository's tests need a real PostgreSQL (make deps installs
	// it); this fails with the install hint when it is missing.
	dir, err := FindBinaries()
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(dir, exeName("postgres")))
}
