package coderd_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// autostopDeployment is a deployment on an offset clock with a template
// whose default ttl is defaultTTL.
type autostopDeployment struct {
	owner, daemon *codersdk.Client
	srv           *coderdtest.Server
	clock         *offsetClock
	tmpl          codersdk.Template
}

func newAutostopDeployment(t *testing.T, defaultTTL time.Duration, opts *coderdtest.Options) *autostopDeployment {
	t.Helper()
	if opts == nil {
		opts = &coderdtest.Options{}
	}
	d := &autostopDeployment{clock: &offsetClock{}}
	opts.Now = d.clock.now
	var org uuid.UUID
	d.owner, d.daemon, org, d.srv = setupQueue(t, opts)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, d.owner, org, mainTF, nil)
	coderdtest.CompleteImport(t, d.daemon, nil)
	var err error
	d.tmpl, err = d.owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: "autostop", VersionID: v.ID, DefaultTTLMillis: defaultTTL.Milliseconds()})
	require.NoError(t, err)
	require.Equal(t, defaultTTL.Milliseconds(), d.tmpl.DefaultTTLMillis)
	return d
}

// running creates a workspace (ttl nil: the template's) and completes its
// start build with one agent; it returns the workspace as the API shows it
// afterwards and the agent's client.
func (d *autostopDeployment) running(t *testing.T, name string, ttl *int64) (codersdk.Workspace, *codersdk.Client) {
	t.Helper()
	ctx := testutil.Context(t, time.Minute)
	ws, err := d.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: d.tmpl.ID, Name: name, TTLMillis: ttl})
	require.NoError(t, err)
	token := uuid.NewString()
	coderdtest.CompleteBuild(t, d.daemon, ws.LatestBuild.ID, token)
	ws, err = d.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, codersdk.WorkspaceStatusRunning, ws.LatestBuild.Status)
	agent := codersdk.New(d.owner.URL)
	agent.SetSessionToken(token)
	return ws, agent
}

func (d *autostopDeployment) workspace(t *testing.T, id uuid.UUID) codersdk.Workspace {
	t.Helper()
	ws, err := d.owner.Workspace(testutil.Context(t, 30*time.Second), id)
	require.NoError(t, err)
	return ws
}

func TestAutostopStopsWorkspacePastDeadline(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, 2*time.Hour, nil)
	ctx := testutil.Context(t, time.Minute)
	before := d.clock.now()
	ws, _ := d.running(t, "ws", nil)
	after := d.clock.now()

	// The template's default became the workspace's ttl, and the start
	// build's deadline is its completion + that ttl.
	require.NotNil(t, ws.TTLMillis)
	require.Equal(t, (2 * time.Hour).Milliseconds(), *ws.TTLMillis)
	require.NotNil(t, ws.LatestBuild.Deadline)
	require.False(t, ws.LatestBuild.Deadline.Before(before.Add(2*time.Hour).Truncate(time.Microsecond)), "deadline %s before start+ttl", ws.LatestBuild.Deadline)
	require.False(t, ws.LatestBuild.Deadline.After(after.Add(2*time.Hour)), "deadline %s after completion+ttl", ws.LatestBuild.Deadline)

	// Before the deadline: nothing to do.
	exec := d.srv.API.Autostop()
	stopped, err := exec.RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped)

	d.clock.advance(2*time.Hour + time.Minute)
	stopped, err = exec.RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{ws.ID}, stopped)

	got := d.workspace(t, ws.ID)
	b := got.LatestBuild
	require.Equal(t, int32(2), b.BuildNumber)
	require.Equal(t, codersdk.WorkspaceTransitionStop, b.Transition)
	require.Equal(t, codersdk.BuildReasonAutostop, b.Reason)
	require.Equal(t, ws.OwnerID, b.InitiatorID)
	require.Equal(t, ws.LatestBuild.TemplateVersionID, b.TemplateVersionID)
	require.Nil(t, b.Deadline, "a stop build has no deadline")

	// Its stop is queued: a second pass does nothing more.
	stopped, err = exec.RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped)

	// The stop build runs like any other, and is audited.
	coderdtest.CompleteBuildWith(t, d.daemon, b.ID, nil)
	require.Equal(t, codersdk.WorkspaceStatusStopped, d.workspace(t, ws.ID).LatestBuild.Status)
	var audited bool
	for _, l := range auditFind(t, d.owner, func(l codersdk.AuditLog) bool { return l.ResourceType == "workspace_build" }) {
		audited = audited || (l.ResourceID == b.ID && l.Action == codersdk.AuditActionCreate && l.UserAgent == "coderd autostop")
	}
	require.True(t, audited, "no audit entry for the autostop build")

	// A stopped workspace is never "stopped" again, however late it gets.
	d.clock.advance(20 * time.Hour)
	stopped, err = exec.RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped)
}

// Concurrent passes share nothing but the database (the executor keeps no
// state between passes), so they race exactly as the executors of two
// replicas do: each workspace must get one stop build, whoever queues it.
func TestAutostopExactlyOnceAcrossConcurrentExecutors(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, time.Hour, nil)
	ctx := testutil.Context(t, 2*time.Minute)
	const workspaces, executors = 5, 6
	ids := map[uuid.UUID]bool{}
	for i := range workspaces {
		ws, _ := d.running(t, "ws"+string(rune('a'+i)), nil)
		ids[ws.ID] = true
	}
	d.clock.advance(time.Hour + time.Minute)

	exec := d.srv.API.Autostop()
	var (
		mu    sync.Mutex
		count = map[uuid.UUID]int{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for range executors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stopped, err := exec.RunOnce(ctx)
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range stopped {
				count[id]++
			}
		}()
	}
	close(start)
	wg.Wait()
	require.Len(t, count, workspaces)
	for id, n := range count {
		require.True(t, ids[id])
		require.Equal(t, 1, n, "workspace %s stopped by %d passes", id, n)
	}
	for id := range ids {
		builds, err := d.owner.WorkspaceBuilds(ctx, id)
		require.NoError(t, err)
		require.Len(t, builds, 2, "one start and exactly one stop")
		require.Equal(t, codersdk.BuildReasonAutostop, builds[0].Reason)
	}
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("RunOnce: %v", err)
		return false
	}
	return true
}

// A user's stop at the same moment as the executor's: exactly one stop
// build, whoever wins.
func TestAutostopRacesAUserStop(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, time.Hour, nil)
	ctx := testutil.Context(t, time.Minute)
	ws, _ := d.running(t, "ws", nil)
	d.clock.advance(time.Hour + time.Minute)
	var wg sync.WaitGroup
	var userErr error
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, userErr = d.owner.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	}()
	go func() {
		defer wg.Done()
		_, err := d.srv.API.Autostop().RunOnce(ctx)
		assertNoError(t, err)
	}()
	wg.Wait()
	if userErr != nil {
		// The executor won: the user is told a build is in progress.
		require.True(t, codersdk.IsStatus(userErr, http.StatusConflict), "%v", userErr)
	}
	builds, err := d.owner.WorkspaceBuilds(ctx, ws.ID)
	require.NoError(t, err)
	require.Len(t, builds, 2, "one start and exactly one stop")
	require.Equal(t, codersdk.WorkspaceTransitionStop, builds[0].Transition)
}

func TestAutostopActivityBumpMovesDeadline(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, 2*time.Hour, nil)
	ctx := testutil.Context(t, time.Minute)
	ws, agent := d.running(t, "ws", nil)
	deadline := *ws.LatestBuild.Deadline

	// Stats without sessions are not use.
	d.clock.advance(90 * time.Minute)
	_, err := agent.PostStats(ctx, codersdk.AgentStats{SessionCountByType: map[string]int64{"ssh": 0}})
	require.NoError(t, err)
	require.True(t, d.workspace(t, ws.ID).LatestBuild.Deadline.Equal(deadline), "idle stats moved the deadline")

	// An open session pushes the deadline to now + ttl.
	bumpedAt := d.clock.now()
	_, err = agent.PostStats(ctx, codersdk.AgentStats{SessionCountByType: map[string]int64{"ssh": 1}})
	require.NoError(t, err)
	got := d.workspace(t, ws.ID)
	require.True(t, got.LatestBuild.Deadline.After(deadline), "deadline %s not moved past %s", got.LatestBuild.Deadline, deadline)
	require.False(t, got.LatestBuild.Deadline.Before(bumpedAt.Add(2*time.Hour).Truncate(time.Microsecond)))
	require.False(t, got.LastUsedAt.Before(bumpedAt.Truncate(time.Microsecond)), "last_used_at not updated")
	bumped := *got.LatestBuild.Deadline

	// Within the minute, another report writes nothing.
	_, err = agent.PostStats(ctx, codersdk.AgentStats{SessionCountByType: map[string]int64{"ssh": 1}})
	require.NoError(t, err)
	require.True(t, d.workspace(t, ws.ID).LatestBuild.Deadline.Equal(bumped))

	// Past the first deadline, the workspace is not stopped: it was in use.
	d.clock.advance(31 * time.Minute)
	stopped, err := d.srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped)
	require.Equal(t, codersdk.WorkspaceStatusRunning, d.workspace(t, ws.ID).LatestBuild.Status)

	// Past the bumped one, it is.
	d.clock.advance(2 * time.Hour)
	stopped, err = d.srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{ws.ID}, stopped)
}

func TestWorkspaceTTL(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, 0, nil)
	ctx := testutil.Context(t, time.Minute)

	// No template default: no ttl, no deadline.
	ws, _ := d.running(t, "manual", nil)
	require.Nil(t, ws.TTLMillis)
	require.Nil(t, ws.LatestBuild.Deadline)

	// Setting a ttl moves the running build's deadline: completion + ttl.
	hour := time.Hour.Milliseconds()
	require.NoError(t, d.owner.UpdateWorkspaceTTL(ctx, ws.ID, codersdk.UpdateWorkspaceTTLRequest{TTLMillis: &hour}))
	got := d.workspace(t, ws.ID)
	require.Equal(t, hour, *got.TTLMillis)
	require.NotNil(t, got.LatestBuild.Deadline)
	require.True(t, got.LatestBuild.Deadline.Equal(got.LatestBuild.Job.CompletedAt.Add(time.Hour)), "deadline %s, completed %s", got.LatestBuild.Deadline, got.LatestBuild.Job.CompletedAt)

	// "manual" (null) clears both.
	require.NoError(t, d.owner.UpdateWorkspaceTTL(ctx, ws.ID, codersdk.UpdateWorkspaceTTLRequest{}))
	got = d.workspace(t, ws.ID)
	require.Nil(t, got.TTLMillis)
	require.Nil(t, got.LatestBuild.Deadline)
	d.clock.advance(20 * time.Hour) // within the owner's session
	stopped, err := d.srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped)

	// An explicit ttl at creation wins over the template's; 0 is none.
	zero := int64(0)
	ws2, err := d.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: d.tmpl.ID, Name: "explicit", TTLMillis: &hour})
	require.NoError(t, err)
	require.Equal(t, hour, *ws2.TTLMillis)
	ws3, err := d.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: d.tmpl.ID, Name: "zero", TTLMillis: &zero})
	require.NoError(t, err)
	require.Nil(t, ws3.TTLMillis)

	// The template's default: set, shown, audited in its diff.
	eight := (8 * time.Hour).Milliseconds()
	tmpl, err := d.owner.UpdateTemplateMeta(ctx, d.tmpl.ID, codersdk.UpdateTemplateMeta{DefaultTTLMillis: &eight})
	require.NoError(t, err)
	require.Equal(t, eight, tmpl.DefaultTTLMillis)
	ws4, err := d.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: d.tmpl.ID, Name: "fromtemplate"})
	require.NoError(t, err)
	require.Equal(t, eight, *ws4.TTLMillis)
	require.Equal(t, hour, *d.workspace(t, ws2.ID).TTLMillis, "existing workspaces keep their ttl")
}

func TestWorkspaceTTLValidation(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, 0, nil)
	ctx := testutil.Context(t, time.Minute)
	ws, _ := d.running(t, "ws", nil)
	bad := map[string]int64{
		"negative":         -1,
		"under a minute":   59_999,
		"over thirty days": (30*24*time.Hour + time.Millisecond).Milliseconds(),
	}
	for name, ms := range bad {
		err := d.owner.UpdateWorkspaceTTL(ctx, ws.ID, codersdk.UpdateWorkspaceTTLRequest{TTLMillis: &ms})
		requireField(t, err, "ttl_ms", name)

		_, err = d.owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: d.tmpl.ID, Name: "bad", TTLMillis: &ms})
		requireField(t, err, "ttl_ms", name)

		_, err = d.owner.UpdateTemplateMeta(ctx, d.tmpl.ID, codersdk.UpdateTemplateMeta{DefaultTTLMillis: &ms})
		requireField(t, err, "default_ttl_ms", name)
	}
	// The bounds themselves are accepted.
	for _, ms := range []int64{time.Minute.Milliseconds(), (30 * 24 * time.Hour).Milliseconds()} {
		require.NoError(t, d.owner.UpdateWorkspaceTTL(ctx, ws.ID, codersdk.UpdateWorkspaceTTLRequest{TTLMillis: &ms}))
	}
	// Nothing bad was stored.
	require.Equal(t, (30 * 24 * time.Hour).Milliseconds(), *d.workspace(t, ws.ID).TTLMillis)
	tmpl, err := d.owner.Template(ctx, d.tmpl.ID)
	require.NoError(t, err)
	require.Zero(t, tmpl.DefaultTTLMillis)
}

func requireField(t *testing.T, err error, field, name string) {
	t.Helper()
	var apiErr *codersdk.Error
	require.ErrorAs(t, err, &apiErr, name)
	require.Equal(t, http.StatusBadRequest, apiErr.StatusCode(), name)
	require.NotEmpty(t, apiErr.Validations, name)
	require.Equal(t, field, apiErr.Validations[0].Field, name)
}

// The executor's own loop, on a short tick, stops a workspace by itself.
func TestAutostopLoop(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, time.Minute, &coderdtest.Options{AutostopTick: 20 * time.Millisecond})
	ws, _ := d.running(t, "ws", nil)
	d.clock.advance(2 * time.Minute)
	require.Eventually(t, func() bool {
		b := d.workspace(t, ws.ID).LatestBuild
		return b.Transition == codersdk.WorkspaceTransitionStop && b.Reason == codersdk.BuildReasonAutostop
	}, testutil.WaitLong, 20*time.Millisecond)
}

// An open web terminal is use: coderd's own connection bumps the deadline
// (at connect, then every minute while it stays open).
func TestAutostopWebTerminalBumpsDeadline(t *testing.T) {
	t.Parallel()
	clock := &offsetClock{}
	d := newPTYDeployment(t, &coderdtest.Options{Now: clock.now})
	ctx := testutil.Context(t, testutil.WaitLong)
	ws, err := d.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "pty")
	require.NoError(t, err)
	hour := time.Hour.Milliseconds()
	require.NoError(t, d.owner.UpdateWorkspaceTTL(ctx, ws.ID, codersdk.UpdateWorkspaceTTLRequest{TTLMillis: &hour}))
	ws, err = d.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	deadline := *ws.LatestBuild.Deadline

	d.startAgent(t)
	clock.advance(50 * time.Minute)
	openedAt := clock.now()
	term := openTerminal(ctx, t, d.owner, d.agentID, uuid.New(), 80, 24)
	defer term.close()
	require.Eventually(t, func() bool {
		got, err := d.owner.Workspace(ctx, ws.ID)
		return err == nil && got.LatestBuild.Deadline != nil && !got.LatestBuild.Deadline.Before(openedAt.Add(time.Hour).Truncate(time.Microsecond))
	}, testutil.WaitLong, 20*time.Millisecond, "the terminal did not move the deadline past %s", deadline)

	clock.advance(15 * time.Minute) // past the first deadline
	stopped, err := d.srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped)
}

func TestExtendWorkspace(t *testing.T) {
	t.Parallel()
	d := newAutostopDeployment(t, time.Hour, nil)
	ctx := testutil.Context(t, time.Minute)
	ws, _ := d.running(t, "ws", nil)

	// Bad deadlines, named.
	for name, at := range map[string]time.Time{
		"missing":  {},
		"too soon": d.clock.now().Add(29 * time.Minute),
		"past":     d.clock.now().Add(-time.Hour),
		"too late": d.clock.now().Add(31 * 24 * time.Hour),
	} {
		err := d.owner.PutExtendWorkspace(ctx, ws.ID, codersdk.PutExtendWorkspaceRequest{Deadline: at})
		requireField(t, err, "deadline", name)
	}

	// Extending moves the next stop, past the ttl's.
	want := d.clock.now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	require.NoError(t, d.owner.PutExtendWorkspace(ctx, ws.ID, codersdk.PutExtendWorkspaceRequest{Deadline: want}))
	got := d.workspace(t, ws.ID)
	require.True(t, got.LatestBuild.Deadline.Equal(want), "deadline %s, want %s", got.LatestBuild.Deadline, want)
	require.Equal(t, time.Hour.Milliseconds(), *got.TTLMillis, "the ttl is unchanged")
	d.clock.advance(2 * time.Hour)
	stopped, err := d.srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Empty(t, stopped, "stopped before the extended deadline")
	d.clock.advance(time.Hour + time.Minute)
	stopped, err = d.srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{ws.ID}, stopped)

	// Nothing to extend: stopping (no running build), or no autostop.
	err = d.owner.PutExtendWorkspace(ctx, ws.ID, codersdk.PutExtendWorkspaceRequest{Deadline: d.clock.now().Add(time.Hour)})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "%v", err)
	coderdtest.CompleteBuildWith(t, d.daemon, d.workspace(t, ws.ID).LatestBuild.ID, nil) // the stop
	zero := int64(0)
	manual, _ := d.running(t, "manual", &zero)
	err = d.owner.PutExtendWorkspace(ctx, manual.ID, codersdk.PutExtendWorkspaceRequest{Deadline: d.clock.now().Add(time.Hour)})
	require.True(t, codersdk.IsStatus(err, http.StatusConflict), "%v", err)
}
