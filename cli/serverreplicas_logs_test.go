package cli

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestServerReplicasFollowLogsAcrossReplicas: the build-log fan-out with
// two replicas. A daemon talks to replica A and writes a job's logs in
// batches there; a user follows the job's logs through replica B. The
// follower gets every line exactly once, in order, and its stream ends
// when the job completes on A.
func TestServerReplicasFollowLogsAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx := testutil.Context(t, testutil.WaitLong)
	pg := dbtestutil.NewDB(t)
	start := func() string {
		addr, u := freeLoopbackURL(t)
		sctx, stop := context.WithCancel(ctx)
		s := newEnv(t).start(sctx, nil, "server", "--http-address", addr, "--stun-address", "disable", "--provisioner-daemons", "0",
			"--postgres-url", pg, "--replica-heartbeat-interval", "200ms", "--derp-server-relay-url", u,
			"--provisioner-daemon-psk", coderdtest.TestPSK)
		s.waitFor(t, &s.stderr, "Press Ctrl+C")
		t.Cleanup(func() {
			stop()
			wctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.Zero(t, s.wait(t, wctx), s.stderr.String())
		})
		return u
	}
	urlA, urlB := start(), start()

	ownerA := ownerClient(ctx, t, urlA)
	ownerB := codersdk.New(mustURL(t, urlB))
	ownerB.SetSessionToken(ownerA.SessionToken())
	orgs, err := ownerB.OrganizationsByUser(ctx, "me")
	require.NoError(t, err)
	require.Len(t, orgs, 1)

	v := coderdtest.CreateTemplateVersion(t, ownerB, orgs[0].ID, map[string]string{"main.tf": "terraform {}"}, nil)
	daemon := coderdtest.DaemonClient(ownerA)
	daemonID := uuid.New()
	job := coderdtest.AcquireJob(t, daemon, daemonID, nil)
	require.Equal(t, v.Job.ID, job.JobID)

	logs, closeLogs, err := ownerB.TemplateVersionLogsAfter(ctx, v.ID, 0, true)
	require.NoError(t, err)
	defer func() { _ = closeLogs() }()

	const batches, perBatch = 10, 5
	go func() {
		for b := range batches {
			var lines []codersdk.ProvisionerLog
			for i := range perBatch {
				lines = append(lines, codersdk.ProvisionerLog{CreatedAt: time.Now(), Level: codersdk.ProvisionerLogLevelInfo,
					Stage: "Planning", Output: fmt.Sprintf("line %03d", b*perBatch+i)})
			}
			if _, err := daemon.UpdateJob(ctx, job.JobID, codersdk.UpdateJobRequest{DaemonID: daemonID, Logs: lines}); err != nil {
				t.Errorf("update job: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := daemon.CompleteJob(ctx, job.JobID, codersdk.CompleteJobRequest{DaemonID: daemonID, TemplateImport: &codersdk.CompletedTemplateImport{}}); err != nil {
			t.Errorf("complete job: %v", err)
		}
	}()

	var got []string
	var lastID int64
	for l := range logs {
		require.Greater(t, l.ID, lastID, "log ids only grow")
		lastID = l.ID
		if bytes.HasPrefix([]byte(l.Output), []byte("line ")) {
			got = append(got, l.Output)
		}
	}
	require.NoError(t, ctx.Err(), "the follow ended because the test timed out, not because the job completed")
	want := make([]string, 0, batches*perBatch)
	for i := range batches * perBatch {
		want = append(want, fmt.Sprintf("line %03d", i))
	}
	require.Equal(t, want, got, "every line once, in order, through the other replica")
	tv, err := ownerB.TemplateVersion(context.WithoutCancel(ctx), v.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.ProvisionerJobSucceeded, tv.Job.Status)
}
