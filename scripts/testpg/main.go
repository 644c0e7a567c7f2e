// Command testpg runs a command with one throwaway PostgreSQL server for the
// whole run, exported as CODER_TEST_POSTGRES_URL, so every test package
// shares it instead of each starting its own cluster. The server and its
// directory are removed afterwards, whatever the command's outcome.
//
//	go run ./scripts/testpg -- go test ./...
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/opencoder/coder/coderd/database/builtinpg"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
)

func main() {
	os.Exit(run())
}

func run() int {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testpg -- COMMAND [ARGS...]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "coder-testpg-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testpg:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	pg, err := builtinpg.Start(ctx, builtinpg.Options{Dir: dir, Fast: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "testpg: start postgres:", err)
		return 1
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = pg.Stop(sctx)
	}()
	fmt.Fprintf(os.Stderr, "testpg: PostgreSQL ready on port %d in %s\n", pg.Port(), time.Since(start).Round(time.Millisecond))
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), dbtestutil.EnvPostgresURL+"="+pg.URL())
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testpg:", err)
		return 1
	}
	return 0
}
