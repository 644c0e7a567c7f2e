package coderd_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/provisionerdserver"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestReaperExactlyOnceAcrossReplicas: the job reaper of every replica
// looks at the same jobs. Several provisioner servers on one database (as
// several coderd replicas run them) reap the same silent jobs at the same
// moment: each job is failed once, with one log line saying why, and the
// reaped counts add up to the number of jobs.
func TestReaperExactlyOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	// The deployment's own reaper waits an hour: the replicas below race.
	owner, daemon, org, srv := setupQueue(t, &coderdtest.Options{HeartbeatTimeout: time.Hour, ReapInterval: time.Hour})
	ctx := testutil.Context(t, 2*time.Minute)
	const jobs, replicas = 4, 5
	versions := map[uuid.UUID]bool{}
	for range jobs {
		v := coderdtest.CreateTemplateVersion(t, owner, org, mainTF, nil)
		coderdtest.AcquireJob(t, daemon, uuid.New(), nil)
		versions[v.ID] = true
	}

	const timeout = 500 * time.Millisecond
	servers := make([]*provisionerdserver.Server, replicas)
	for i := range servers {
		ps, err := pubsub.New(ctx, srv.DB.Pool(), testutil.Logger(t))
		require.NoError(t, err)
		t.Cleanup(func() { _ = ps.Close() })
		s, err := provisionerdserver.New(ctx, provisionerdserver.Options{
			DB: srv.DB, Pubsub: ps, Logger: testutil.Logger(t), AccessURL: &url.URL{Scheme: "http", Host: "localhost"},
			HeartbeatTimeout: timeout, ReapInterval: time.Hour,
		})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		servers[i] = s
	}
	time.Sleep(2 * timeout) // every job is now silent for longer than the timeout

	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		reaped int
		start  = make(chan struct{})
	)
	for _, s := range servers {
		wg.Go(func() {
			<-start
			n, err := s.ReapHungJobs(ctx)
			if err != nil {
				t.Errorf("ReapHungJobs: %v", err)
			}
			mu.Lock()
			reaped += n
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, jobs, reaped, "each silent job reaped once across the replicas")

	for id := range versions {
		tv, err := owner.TemplateVersion(ctx, id)
		require.NoError(t, err)
		require.Equal(t, codersdk.ProvisionerJobFailed, tv.Job.Status)
		require.Equal(t, codersdk.JobErrorCodeDaemonGone, tv.Job.ErrorCode)
		logs, _, err := owner.TemplateVersionLogsAfter(ctx, id, 0, false)
		require.NoError(t, err)
		said := 0
		for l := range logs {
			if strings.Contains(l.Output, "stopped responding") {
				said++
			}
		}
		require.Equal(t, 1, said, "template version %s: one reaper's reason in its logs", id)
	}
	// A second pass by any replica finds nothing left.
	n, err := servers[0].ReapHungJobs(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}
