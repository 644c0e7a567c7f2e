package humanize_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/humanize"
)

func TestAgo(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "never"},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "never"},
		{now.Add(5 * time.Second), "just now"},
		{now, "just now"},
		{now.Add(-9 * time.Second), "just now"},
		{now.Add(-40 * time.Second), "40s ago"},
		{now.Add(-5 * time.Minute), "5m ago"},
		{now.Add(-3 * time.Hour), "3h ago"},
		{now.Add(-47 * time.Hour), "47h ago"},
		{now.Add(-12 * 24 * time.Hour), "12d ago"},
	} {
		require.Equal(t, tc.want, humanize.Ago(now, tc.t), tc.t)
	}
}

func TestBytes(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0 B", 512: "512 B", 1536: "1.5 KiB", 2 << 20: "2.0 MiB", 3 << 30: "3.0 GiB"} {
		require.Equal(t, want, humanize.Bytes(n))
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		-time.Second: "0ms", 0: "0ms", 120 * time.Millisecond: "120ms", 999 * time.Millisecond: "999ms",
		time.Second: "1.0s", 3240 * time.Millisecond: "3.2s", 59 * time.Second: "59.0s",
		65 * time.Second: "1m5s", 59*time.Minute + 59600*time.Millisecond: "1h0m",
		2*time.Hour + 3*time.Minute + 10*time.Second: "2h3m", 49 * time.Hour: "49h0m",
	} {
		require.Equal(t, want, humanize.Duration(d), d)
	}
}
