package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

func TestParseStopAfter(t *testing.T) {
	t.Parallel()
	ms := func(d time.Duration) *int64 { v := d.Milliseconds(); return &v }
	good := map[string]*int64{
		"2h30m": ms(150 * time.Minute), "3h": ms(3 * time.Hour), "2": ms(2 * time.Minute), "1m": ms(time.Minute),
		"manual": nil, "MANUAL": nil, "0": nil, "720h": ms(720 * time.Hour),
	}
	for in, want := range good {
		got, err := parseStopAfter(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, msg := range map[string]string{"soon": "invalid duration", "30s": "too short", "721h": "too long", "-5": "too short"} {
		_, err := parseStopAfter(in)
		require.ErrorContains(t, err, msg, in)
	}
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, time.Minute)

	// The template's default autostop, set from the CLI.
	out := e.ok("templates", "edit", "docker", "--default-ttl", "8h")
	require.Contains(t, out, "Default autostop: 8h.")
	require.Contains(t, e.fails("templates", "edit", "docker", "--default-ttl", "30s"), "default_ttl_ms")

	// New workspaces take it...
	ws := e.createWorkspace(t, ctx, "dev")
	require.Equal(t, (8 * time.Hour).Milliseconds(), *ws.TTLMillis)
	require.NotNil(t, ws.LatestBuild.Deadline)
	out = e.ok("schedule", "show", "dev")
	require.Contains(t, out, "STOPS AFTER")
	require.Contains(t, out, "admin/dev")
	require.Contains(t, out, "8h")
	require.Regexp(t, `\(in (8h|7h59m)\)`, out)
	require.Regexp(t, `in (8h|7h59m)`, e.ok("list"))
	require.Contains(t, e.ok("show", "dev"), "Autostop:")

	// ...unless --stop-after says otherwise.
	r := e.start(ctx, nil, "create", "short", "--template", "docker", "--parameter", "image=ubuntu", "--stop-after", "90")
	e.playJob(t, ctx, r, jobOutcome{})
	require.Equal(t, 0, r.wait(t, ctx), r.stderr.String())
	short, err := e.owner.WorkspaceByOwnerAndName(ctx, codersdk.Me, "short")
	require.NoError(t, err)
	require.Equal(t, (90 * time.Minute).Milliseconds(), *short.TTLMillis)
	require.Contains(t, e.fails("create", "bad", "-t", "docker", "--parameter", "image=ubuntu", "--stop-after", "soon", "-y"), "--stop-after: invalid duration")

	// schedule stop changes the ttl and the running build's deadline.
	out = e.ok("schedule", "stop", "dev", "2h30m")
	require.Contains(t, out, "admin/dev now stops 2h30m after each start")
	got, err := e.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Equal(t, (150 * time.Minute).Milliseconds(), *got.TTLMillis)
	require.True(t, got.LatestBuild.Deadline.Equal(got.LatestBuild.Job.CompletedAt.Add(150*time.Minute)))

	var row scheduleRow
	require.NoError(t, json.Unmarshal([]byte(e.ok("schedule", "show", "dev", "-o", "json")), &row))
	require.Equal(t, "2h30m", row.StopsAfter)
	require.NotNil(t, row.StopsNext)

	// extend moves the next stop only.
	out = e.ok("schedule", "extend", "dev", "5h")
	require.Contains(t, out, "admin/dev now stops at ")
	require.Contains(t, out, "(in 5h)")
	got, err = e.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(5*time.Hour), *got.LatestBuild.Deadline, time.Minute)
	require.Equal(t, (150 * time.Minute).Milliseconds(), *got.TTLMillis)
	require.Contains(t, e.fails("schedule", "extend", "dev", "10m"), "deadline: must be at least 30m0s from now")
	require.Contains(t, e.fails("schedule", "extend", "dev", "manual"), "coder schedule stop dev manual")

	out = e.ok("schedule", "stop", "dev", "manual")
	require.Contains(t, out, "autostop off")
	got, err = e.owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	require.Nil(t, got.TTLMillis)
	require.Nil(t, got.LatestBuild.Deadline)
	out = e.ok("schedule", "show", "dev")
	require.Contains(t, out, "manual")

	require.Contains(t, e.fails("schedule", "stop", "dev", "10s"), "too short")
	require.Contains(t, e.fails("schedule", "extend", "dev", "1h"), "no stop to extend")
	require.Contains(t, e.fails("schedule", "stop", "nosuch", "1h"), `workspace "nosuch" not found`)
}
