package speedtest_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/opencoder/coder/agent/speedtest"
	"github.com/opencoder/coder/testutil"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startServer serves speed tests on a loopback port until the test ends and
// returns a dial function for it.
func startServer(t testing.TB) func(context.Context) (net.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	serve := func(l net.Listener) error { return speedtest.Serve(ctx, l) }
	addr := testutil.ServeLoopback(t, serve, func() error { cancel(); return nil }, context.Canceled)
	return func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	dial := startServer(t)
	for _, dir := range []speedtest.Direction{speedtest.Upload, speedtest.Download} {
		t.Run(dir.String(), func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := speedtest.Run(ctx, dial, dir, 200*time.Millisecond)
			require.NoError(t, err)
			require.Positive(t, res.Bytes)
			require.Positive(t, res.Duration)
			require.Positive(t, res.MbitsPerSecond)
			t.Logf("%s: %d bytes in %v = %.0f Mbit/s", dir, res.Bytes, res.Duration, res.MbitsPerSecond)
		})
	}
}

func TestRunInvalid(t *testing.T) {
	t.Parallel()
	dial := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := speedtest.Run(ctx, dial, speedtest.Direction('x'), time.Second)
	require.Error(t, err)
	_, err = speedtest.Run(ctx, dial, speedtest.Upload, 0)
	require.Error(t, err)
	_, err = speedtest.Run(ctx, dial, speedtest.Upload, speedtest.MaxDuration+time.Second)
	require.Error(t, err)
}

func TestRunCanceled(t *testing.T) {
	t.Parallel()
	dial := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := speedtest.Run(ctx, dial, speedtest.Download, time.Minute)
	require.ErrorIs(t, err, context.Canceled)
}

func TestServerRejectsUnknownDirection(t *testing.T) {
	t.Parallel()
	dial := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := dial(ctx)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
	_, err = conn.Write([]byte{'?'})
	require.NoError(t, err)
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err)
	require.False(t, errors.Is(err, context.DeadlineExceeded))
}

func BenchmarkThroughput(b *testing.B) {
	dial := startServer(b)
	for _, dir := range []speedtest.Direction{speedtest.Upload, speedtest.Download} {
		b.Run(dir.String(), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var total int64
			var elapsed time.Duration
			for b.Loop() {
				res, err := speedtest.Run(ctx, dial, dir, 100*time.Millisecond)
				require.NoError(b, err)
				total += res.Bytes
				elapsed += res.Duration
			}
			b.ReportMetric(float64(total)*8/elapsed.Seconds()/1e6, "Mbit/s")
		})
	}
}
