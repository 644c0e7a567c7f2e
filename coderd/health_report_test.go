package coderd_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestDebugHealthReport: the report checks what users' failures come from,
// against the real dependencies of a test deployment (PostgreSQL, the DERP
// relay and STUN server its DERP map advertises, a websocket through the
// access URL) and names the reason when something is wrong: here, no
// provisioner daemon, then one, then that one gone quiet.
func TestDebugHealthReport(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	client, _ := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, testutil.WaitLong)

	report, err := client.DebugHealth(ctx)
	require.NoError(t, err)
	require.True(t, report.Database.Healthy, report.Database.Error)
	require.True(t, report.DERP.Healthy, report.DERP.Error)
	require.Contains(t, strings.Join(report.DERP.Details, "\n"), "connected in")
	require.True(t, report.STUN.Healthy, report.STUN.Error)
	require.Contains(t, strings.Join(report.STUN.Details, "\n"), "saw us as 127.0.0.1:")
	require.True(t, report.Websocket.Healthy, report.Websocket.Error)
	require.False(t, report.Provisioners.Healthy)
	require.Contains(t, report.Provisioners.Error, "no provisioner daemon has connected")
	require.False(t, report.Healthy, "no daemon: nothing can be built")

	// A daemon asks for work (none is queued): it is online.
	daemon := coderdtest.DaemonClient(client)
	job, err := daemon.AcquireJob(ctx, codersdk.AcquireJobRequest{DaemonID: uuid.New(), Name: "health-daemon", Version: "v1.2.3",
		Provisioners: []string{"terraform"}, Tags: map[string]string{"scope": "organization"}})
	require.NoError(t, err)
	require.Nil(t, job)
	report, err = client.DebugHealth(ctx)
	require.NoError(t, err)
	require.True(t, report.Provisioners.Healthy, report.Provisioners.Error)
	require.Contains(t, strings.Join(report.Provisioners.Details, "\n"), "health-daemon: idle, version v1.2.3")
	require.True(t, report.Healthy, "%+v", report)

	// Silent for longer than the stale interval: offline, and said so.
	now.Add(int64(5 * time.Minute))
	report, err = client.DebugHealth(ctx)
	require.NoError(t, err)
	require.False(t, report.Provisioners.Healthy)
	require.Contains(t, report.Provisioners.Error, "every provisioner daemon is offline")
	require.False(t, report.Healthy)
}

// TestDebugHealthAuthorization: owners and auditors read the report; a
// member or template admin gets 404, as for any read they may not make.
func TestDebugHealthAuthorization(t *testing.T) {
	t.Parallel()
	client, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, testutil.WaitLong)
	for _, tc := range []struct {
		roles []string
		ok    bool
	}{{nil, false}, {[]string{codersdk.RoleTemplateAdmin}, false}, {[]string{codersdk.RoleAuditor}, true}} {
		c, _ := coderdtest.CreateAnotherUser(t, client, tc.roles...)
		_, err := c.DebugHealth(ctx)
		if tc.ok {
			require.NoError(t, err, "roles %v", tc.roles)
			continue
		}
		require.True(t, codersdk.IsStatus(err, http.StatusNotFound), "roles %v: %v", tc.roles, err)
	}
}
