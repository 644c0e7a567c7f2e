package agentssh_test

import (
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent/agentssh"
	"github.com/opencoder/coder/testutil"
)

// BenchmarkExecTrue measures one SSH exec round trip on an open
// connection: open a session channel, run `true` through the shell, receive
// its exit status.
func BenchmarkExecTrue(b *testing.B) {
	_, addr := startServer(b, agentssh.Options{
		Shell:  "/bin/sh",
		Logger: slog.New(slog.DiscardHandler),
	})
	ctx := testutil.Context(b, testutil.WaitShort)
	client := dial(ctx, b, addr)
	b.ResetTimer()
	for b.Loop() {
		sess, err := client.NewSession()
		require.NoError(b, err)
		require.NoError(b, sess.Run("true"))
		sess.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/exec")
}

// BenchmarkLocalForwardThroughput measures bulk data through a direct-tcpip
// channel to a loopback echo server.
func BenchmarkLocalForwardThroughput(b *testing.B) {
	_, addr := startServer(b, agentssh.Options{Logger: slog.New(slog.DiscardHandler)})
	echo := startEcho(b)
	ctx := testutil.Context(b, testutil.WaitShort)
	client := dial(ctx, b, addr)
	c, err := client.DialContext(ctx, "tcp", echo)
	require.NoError(b, err)
	defer c.Close()
	chunk := make([]byte, 32*1024)
	b.SetBytes(int64(len(chunk)))
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, c, int64(b.N)*int64(len(chunk)))
		done <- err
	}()
	b.ResetTimer()
	for range b.N {
		_, err := c.Write(chunk)
		require.NoError(b, err)
	}
	require.NoError(b, <-done)
}
