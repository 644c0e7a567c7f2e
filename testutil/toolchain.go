package testutil

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// ToolchainDir is <repo>/.toolchain, where `make toolchain` puts Terraform
// and the provider mirror, wherever the test runs from.
func ToolchainDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testutil: cannot locate the repository")
	}
	return filepath.Join(filepath.Dir(filepath.Dir(file)), ".toolchain")
}

// ToolchainConfig is the Terraform CLI config that installs providers from
// the repository's offline mirror. It fails the test, saying what to run,
// when `make toolchain` has not been run.
func ToolchainConfig(t testing.TB) string {
	t.Helper()
	cfg := filepath.Join(ToolchainDir(t), "terraformrc")
	if _, err := os.Stat(cfg); err != nil {
		t.Fatalf("%s not found: run `make toolchain` first (it builds the coder provider into a local filesystem mirror)", cfg)
	}
	return cfg
}
