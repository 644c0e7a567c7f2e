package pubsub_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
)

// TestMetrics: a registered Pubsub counts publishes by outcome and the
// messages its listener received, but not its own control traffic.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ctx, _, ps := setup(t)
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(ps))
	in := newInbox()
	cancel, err := ps.Subscribe(ctx, "metrics", in.handler) // a control message
	require.NoError(t, err)
	defer cancel()
	require.NoError(t, ps.Publish(ctx, "metrics", []byte("one")))
	require.NoError(t, ps.Publish(ctx, "metrics", []byte("two")))
	require.Error(t, ps.Publish(ctx, "metrics", []byte(strings.Repeat("x", 9000))), "PostgreSQL refuses payloads over 8000 bytes")
	in.waitMsgs(ctx, t, "one", "two")

	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP coderd_pubsub_messages_total Messages this process's listener received (its own control messages excluded).
# TYPE coderd_pubsub_messages_total counter
coderd_pubsub_messages_total 2
# HELP coderd_pubsub_publishes_total Messages published, by whether PostgreSQL accepted them (success: true or false).
# TYPE coderd_pubsub_publishes_total counter
coderd_pubsub_publishes_total{success="false"} 1
coderd_pubsub_publishes_total{success="true"} 2
`)))
}
