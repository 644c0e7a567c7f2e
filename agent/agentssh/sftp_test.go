package agentssh_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

func TestSFTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, addr := startServer(t, agentssh.Options{Dir: dir})
	ctx := testutil.Context(t, testutil.WaitShort)
	client := dial(ctx, t, addr)

	sc, err := sftp.NewClient(client)
	require.NoError(t, err)
	defer sc.Close()
	require.Equal(t, map[string]int64{agentssh.SessionTypeSFTP: 1}, srv.Stats())

	// Relative paths resolve against the session's working directory.
	wd, err := sc.Getwd()
	require.NoError(t, err)
	require.Equal(t, dir, wd)

	content := []byte("hello over sftp\n")
	f, err := sc.Create("sub.txt")
	require.NoError(t, err)
	_, err = f.Write(content)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	onDisk, err := os.ReadFile(filepath.Join(dir, "sub.txt"))
	require.NoError(t, err)
	require.Equal(t, content, onDisk)

	info, err := sc.Stat(filepath.Join(dir, "sub.txt"))
	require.NoError(t, err)
	require.Equal(t, int64(len(content)), info.Size())
	require.False(t, info.IsDir())

	f, err = sc.Open("sub.txt")
	require.NoError(t, err)
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, content, got)

	require.NoError(t, sc.Mkdir("nested"))
	require.NoError(t, sc.Rename("sub.txt", "nested/moved.txt"))
	entries, err := sc.ReadDir("nested")
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "moved.txt", entries[0].Name())

	require.NoError(t, sc.Close())
	require.Eventually(t, func() bool { return len(srv.Stats()) == 0 }, deadlineLeft(ctx), pollInterval)
}
