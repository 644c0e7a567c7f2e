package builtinpg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

// ErrNotInstalled reports that no PostgreSQL server binaries were found. The
// wrapping error says what to install; callers test for it with errors.Is to
// tell "install PostgreSQL or pass --postgres-url" apart from a broken cluster.
var ErrNotInstalled = errors.New("PostgreSQL server binaries not found")

// debianRoot is where Debian and Ubuntu install versioned server binaries
// (/usr/lib/postgresql/<major>/bin), which are not on PATH by default.
const debianRoot = "/usr/lib/postgresql"

// serverBinaries are the programs a usable installation must provide.
var serverBinaries = []string{"initdb", "pg_ctl", "postgres"}

// FindBinaries returns the directory that holds initdb, pg_ctl and postgres:
// the first PATH entry with all three, else Debian's
// /usr/lib/postgresql/<highest version>/bin. The error wraps ErrNotInstalled
// and names the package to install.
func FindBinaries() (dir string, err error) {
	return findBinaries(os.Getenv("PATH"), debianRoot)
}

// findBinaries is FindBinaries with the search inputs injected for tests.
func findBinaries(pathEnv, debRoot string) (string, error) {
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" || !filepath.IsAbs(d) {
			// A relative PATH entry depends on the working directory;
			// never run a database server from there.
			continue
		}
		if hasServerBinaries(d) {
			return resolveBinDir(d), nil
		}
	}
	if debRoot != "" {
		for _, v := range debianVersions(debRoot) {
			d := filepath.Join(debRoot, v, "bin")
			if hasServerBinaries(d) {
				return d, nil
			}
		}
	}
	return "", fmt.Errorf("%w on PATH or in %s/*/bin: install them with "+
		"`apt-get install postgresql` (Debian/Ubuntu; `brew install postgresql` on macOS), "+
		"or run `make deps`, or pass --postgres-url to use an existing server",
		ErrNotInstalled, debRoot)
}

// resolveBinDir follows symlinks such as /usr/local/bin/postgres ->
// /usr/lib/postgresql/15/bin/postgres so the three programs come from one
// installation; it keeps d when they do not all resolve to one directory.
func resolveBinDir(d string) string {
	target := ""
	for _, name := range serverBinaries {
		p, err := filepath.EvalSymlinks(filepath.Join(d, exeName(name)))
		if err != nil {
			return d
		}
		if target == "" {
			target = filepath.Dir(p)
		} else if filepath.Dir(p) != target {
			return d
		}
	}
	return target
}

func hasServerBinaries(d string) bool {
	for _, name := range serverBinaries {
		fi, err := os.Stat(filepath.Join(d, exeName(name)))
		if err != nil || fi.IsDir() {
			return false
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// debianVersions lists the version directories under root, newest first
// (numerically, so 10 sorts above 9.6).
func debianVersions(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var versions []string
	for _, e := range entries {
		if _, ok := parseVersion(e.Name()); ok {
			versions = append(versions, e.Name())
		}
	}
	sort.Slice(versions, func(i, j int) bool {
		a, _ := parseVersion(versions[i])
		b, _ := parseVersion(versions[j])
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] > b[k]
			}
		}
		return len(a) > len(b)
	})
	return versions
}

func parseVersion(s string) ([]int, bool) {
	parts := strings.Split(s, ".")
	out := make([]int, 0, len(parts))
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, false
		}
		out = append(out, n)
	}
	return out, true
}

func exeName(name string) string {
	if runtime.GOOS == "windows" {
		return name + ".exe"
	}
	return name
}
