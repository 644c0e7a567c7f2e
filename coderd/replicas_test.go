package coderd_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/buildinfo"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/tailnet"
	"github.com/opencoder/coder/testutil"
)

// TestReplicasLone: a server alone on its database lists itself, with no
// error (no peers, so no relay address is needed) and this build's version.
func TestReplicasLone(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, time.Minute)
	client, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	replicas, err := client.Replicas(ctx)
	require.NoError(t, err)
	require.Len(t, replicas, 1)
	r := replicas[0]
	require.NotZero(t, r.ID)
	require.NotEmpty(t, r.Hostname)
	require.Equal(t, int32(tailnet.EmbeddedRegionID), r.RegionID)
	require.Equal(t, buildinfo.Version(), r.Version)
	require.Empty(t, r.Error)
	require.Empty(t, r.RelayAddress)
	require.WithinDuration(t, time.Now(), r.CreatedAt, time.Minute)
	require.False(t, codersdk.MixedVersions(replicas))
}
