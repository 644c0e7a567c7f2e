package site_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestWorkspacePageAutostop: a running workspace with a ttl says when it
// stops, in the polled status fragment; once autostop has stopped it, the
// build history says the stop was automatic.
func TestWorkspacePageAutostop(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64 // the server's clock runs this far ahead
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t), Now: now})
	first := coderdtest.CreateFirstUser(t, client)
	daemon := coderdtest.DaemonClient(client)
	ctx := testutil.Context(t, time.Minute)
	v := coderdtest.CreateTemplateVersion(t, client, first.OrganizationID, map[string]string{"main.tf": "terraform {}"}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := client.CreateTemplate(ctx, first.OrganizationID, codersdk.CreateTemplateRequest{Name: "t", VersionID: v.ID, DefaultTTLMillis: (2 * time.Hour).Milliseconds()})
	require.NoError(t, err)
	ws, err := client.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "ws"})
	require.NoError(t, err)
	coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, uuid.NewString())

	b := (&dashboard{URL: srv.URL, Client: client, Server: srv}).browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)
	p := b.get("/@admin/ws?partial=status")
	require.Equal(t, http.StatusOK, p.Status, p.Body)
	require.Regexp(t, `<span id="ws-autostop" title="[^"]+ UTC">Stops in (2h|1h 59m)</span>`, p.Body)

	offset.Add(int64(97 * time.Minute))
	require.Regexp(t, `>Stops in (23m|22m)<`, b.get("/@admin/ws?partial=status").Body)

	offset.Add(int64(time.Hour))
	stopped, err := srv.API.Autostop().RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{ws.ID}, stopped)
	p = b.get("/@admin/ws")
	require.Equal(t, http.StatusOK, p.Status)
	require.Contains(t, p.Body, "Stopped automatically (autostop)")
	require.NotContains(t, p.Body, `id="ws-autostop"`, "a stopping workspace has no next stop")
}
