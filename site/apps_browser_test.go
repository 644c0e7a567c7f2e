package site_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/agent"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// TestBrowserAppSharing opens a workspace's apps in Chromium, through the
// real path-app proxy to a real agent: a `public` app lets an anonymous
// browser in, an `authenticated` one asks it to sign in (any user will do),
// an `owner` one is a 404 for another user.
func TestBrowserAppSharing(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	_, bob := coderdtest.CreateAnotherUser(t, client)
	ctx := testutil.Context(t, testutil.WaitLong)

	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<!doctype html><title>app</title><h1>hello from the app at %s</h1>", r.URL.Path)
	}))
	t.Cleanup(app.Close)
	apps := []codersdk.ProvisionerApp{
		{Slug: "pub", DisplayName: "Public", URL: app.URL, Share: "public"},
		{Slug: "signedin", DisplayName: "Signed in", URL: app.URL, Share: "authenticated"},
		{Slug: "mine", DisplayName: "Mine", URL: app.URL, Share: "owner"},
	}
	startAgentWithApps(ctx, t, client, first.OrganizationID, "shared", apps)
	base := srv.URL.String() + "/@admin/shared/apps/"

	b := sitetest.New(t, sitetest.Options{Timeout: time.Minute})
	anon := b.Open(base+"pub/", true)
	anon.WaitText(`h1`, regexp.MustCompile(`hello from the app at /`), 30*time.Second)

	anon = b.Open(base+"signedin/", true)
	require.Contains(t, anon.URL(), "/login", "an authenticated app sends an anonymous browser to sign in")
	anon.Fill(`input[name=email]`, bob.Email)
	anon.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	anon.Click(`main form button[type=submit]`)
	anon.WaitText(`h1`, regexp.MustCompile(`hello from the app at /`), 30*time.Second)
	require.True(t, strings.HasSuffix(anon.URL(), "/apps/signedin/"), "back at the app after signing in: %s", anon.URL())

	// Bob (signed in now) may not open the owner's private app.
	anon.Navigate(base + "mine/")
	anon.WaitText(`body`, regexp.MustCompile(`No such app, or you may not open it`), 30*time.Second)
}

// startAgentWithApps makes a workspace whose build "produced" one agent with
// apps, runs that agent in this process until the test ends, and returns
// its ID once coderd reaches it.
func startAgentWithApps(ctx context.Context, t testing.TB, owner *codersdk.Client, org uuid.UUID, name string, apps []codersdk.ProvisionerApp) uuid.UUID {
	t.Helper()
	return startAgentWith(ctx, t, owner, org, name, codersdk.ProvisionerAgent{Apps: apps})
}

// startAgentWith is startAgentWithApps for any agent: spec's apps, display
// apps and the like are kept; name, token, auth, OS and arch are set here.
func startAgentWith(ctx context.Context, t testing.TB, owner *codersdk.Client, org uuid.UUID, name string, spec codersdk.ProvisionerAgent) uuid.UUID {
	t.Helper()
	daemon := coderdtest.DaemonClient(owner)
	v := coderdtest.CreateTemplateVersion(t, owner, org, map[string]string{"main.tf": "# " + name}, nil)
	coderdtest.CompleteImport(t, daemon, nil)
	tmpl, err := owner.CreateTemplate(ctx, org, codersdk.CreateTemplateRequest{Name: name, VersionID: v.ID})
	require.NoError(t, err)
	ws, err := owner.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: name})
	require.NoError(t, err)
	token := uuid.NewString()
	spec.Name, spec.Token, spec.Auth, spec.OS, spec.Arch = "main", token, "token", "linux", "amd64"
	coderdtest.CompleteBuildWith(t, daemon, ws.LatestBuild.ID, []codersdk.ProvisionerResource{{Name: "box", Type: "docker_container",
		Agents: []codersdk.ProvisionerAgent{spec}}})
	ws, err = owner.Workspace(ctx, ws.ID)
	require.NoError(t, err)
	agentID := ws.LatestBuild.Resources[0].Agents[0].ID

	ac := codersdk.New(owner.URL)
	ac.SetSessionToken(token)
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.New(agent.Options{Client: ac, Logger: slog.New(slog.DiscardHandler)}).Run(actx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(testutil.WaitLong):
			t.Error("agent did not stop")
		}
	})
	require.Eventually(t, func() bool {
		_, err := owner.WorkspaceAgentPing(ctx, agentID)
		return err == nil
	}, testutil.WaitLong, 50*time.Millisecond, "coderd never reached the agent")
	return agentID
}
