//go:build unix

package builtinpg

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestClearStalePIDRefusesLiveServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s, err := Start(ctx, Options{Dir: dir, Fast: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Stop(ctx)) }()

	// Bypassing Dir/lock (say, a postgres left over from another run or
	// started by hand): the live postmaster.pid is still recognised.
	err = clearStalePID(ctx, slog.New(slog.DiscardHandler), filepath.Join(dir, dataSubdir))
	require.ErrorIs(t, err, ErrAlreadyRunning)
	require.FileExists(t, filepath.Join(dir, dataSubdir, "postmaster.pid"))
}

func TestClearStalePIDWithoutFile(t *testing.T) {
	t.Parallel()
	require.NoError(t, clearStalePID(context.Background(), slog.New(slog.DiscardHandler), t.TempDir()))
}

func TestIsInitializedRejectsForeignDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "something"), nil, 0o600))
	_, err := isInitialized(dir)
	require.ErrorContains(t, err, "no PG_VERSION")

	empty := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.Mkdir(empty, 0o700))
	ok, err := isInitialized(empty)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoDirExists(t, empty, "an empty leftover is removed")
}
