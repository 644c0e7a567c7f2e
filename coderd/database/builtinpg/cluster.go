package builtinpg

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Names inside Options.Dir.
const (
	passwordFile = "password"
	portFile     = "port"
	lockFile     = "lock"
	dataSubdir   = "data"
	stagingDir   = "initdb.tmp"
)

// superuser is both the PostgreSQL superuser and the application database.
const superuser = "coder"

// ErrNotInitialized reports that a directory holds no built-in cluster yet,
// so there is no URL to give out.
var ErrNotInitialized = errors.New("built-in PostgreSQL was never initialised")

// ReadURL returns the connection URL of the built-in cluster in dir without
// starting anything (for `coder server postgres-builtin-url`). The server
// listens there only while `coder server` runs.
func ReadURL(dir string) (string, error) {
	pw, err := os.ReadFile(filepath.Join(dir, passwordFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w in %s: start `coder server` once without --postgres-url", ErrNotInitialized, dir)
	}
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	port := readPort(dir)
	if port == 0 {
		return "", fmt.Errorf("%w in %s (it has never started): start `coder server` once without --postgres-url", ErrNotInitialized, dir)
	}
	return buildURL(strings.TrimSpace(string(pw)), port, superuser), nil
}

// buildURL is the libpq URL of database db on the local cluster.
func buildURL(password string, port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(superuser, password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// readOrCreatePassword returns the superuser password kept in dir, creating
// a random one on first use. It refuses to invent a new password for a data
// directory that already exists: that cluster would be unreachable.
func readOrCreatePassword(dir string, initialized bool) (string, error) {
	path := filepath.Join(dir, passwordFile)
	b, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(b))
		if pw == "" {
			return "", fmt.Errorf("password file %s is empty", path)
		}
		// Tighten the mode in case someone loosened it.
		if runtime.GOOS != "windows" {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("chmod password file: %w", err)
			}
		}
		return pw, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read password: %w", err)
	}
	if initialized {
		return "", fmt.Errorf("password file %s is missing but the cluster in %s exists: restore the file or remove the data directory",
			path, filepath.Join(dir, dataSubdir))
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	pw := hex.EncodeToString(raw[:])
	if err := writeFileAtomic(path, []byte(pw+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write password: %w", err)
	}
	return pw, nil
}

// readPort returns the port remembered in dir, or 0.
func readPort(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, portFile))
	if err != nil {
		return 0
	}
	p, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || p <= 0 || p > 65535 {
		return 0
	}
	return p
}

// writeFileAtomic writes via a temporary file and a rename, so readers see
// the old content or the new, never a torn file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// isInitialized reports whether dataDir holds a complete cluster. initdb
// runs in a staging directory that is renamed into place only on success,
// so PG_VERSION marks a finished initdb.
func isInitialized(dataDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("stat data directory: %w", err)
	}
	entries, err := os.ReadDir(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read data directory: %w", err)
	}
	if len(entries) > 0 {
		return false, fmt.Errorf("%s is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away", dataDir)
	}
	if err := os.Remove(dataDir); err != nil {
		return false, fmt.Errorf("remove empty data directory: %w", err)
	}
	return false, nil
}

// initCluster runs initdb in Dir/initdb.tmp and renames the result to
// Dir/data, so a crash half-way leaves nothing that looks like a cluster.
func initCluster(ctx context.Context, logger *slog.Logger, binDir, dir, password string, acct *account, fast bool) error {
	staging := filepath.Join(dir, stagingDir)
	if err := os.RemoveAll(staging); err != nil {
		return fmt.Errorf("remove old staging dir: %w", err)
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return fmt.Errorf("create staging dir: %w", err)
	}
	defer os.RemoveAll(staging)
	pwPath := filepath.Join(staging, "pwfile")
	if err := os.WriteFile(pwPath, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("write initdb password file: %w", err)
	}
	if err := acct.chown(staging, pwPath); err != nil {
		return err
	}

	// See the package doc: as root on Linux the child reaches the staging
	// directory through descriptor 3, not through Dir's ancestors.
	base := staging
	var extra []*os.File
	if acct.viaFD() {
		f, err := os.Open(staging)
		if err != nil {
			return fmt.Errorf("open staging dir: %w", err)
		}
		defer f.Close()
		extra = []*os.File{f}
		base = "/proc/self/fd/3"
	}
	args := []string{
		"-D", base + "/" + dataSubdir,
		"--username=" + superuser,
		"--pwfile=" + base + "/pwfile",
		"--auth=scram-sha-256",
		"--encoding=UTF8",
		"--no-locale",
	}
	if fast {
		args = append(args, "--no-sync")
	}
	var out bytes.Buffer
	cmd := childCommand(filepath.Join(binDir, exeName("initdb")), args, acct, killOnParentDeath)
	cmd.ExtraFiles = extra
	cmd.Stdout = &out
	cmd.Stderr = &out
	logger.Info("initializing built-in PostgreSQL cluster", "dir", dir, "run_as", acct.String())
	if err := runWithContext(ctx, cmd); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, strings.TrimSpace(out.String()))
	}
	logger.Debug("initdb finished", "output", out.String())
	if err := os.Remove(pwPath); err != nil {
		return fmt.Errorf("remove initdb password file: %w", err)
	}
	if err := os.Rename(filepath.Join(staging, dataSubdir), filepath.Join(dir, dataSubdir)); err != nil {
		return fmt.Errorf("move initialised cluster into place: %w", err)
	}
	return nil
}

// runWithContext runs cmd, killing it if ctx ends first.
func runWithContext(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// childEnv is our environment without libpq/PostgreSQL variables (PGDATA,
// PGPORT, ...) that would override what we pass on the command line.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}
