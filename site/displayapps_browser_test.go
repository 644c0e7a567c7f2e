package site_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// TestBrowserDisplayApps: the workspace page in Chromium honours the
// template's display_apps. An agent with the provider's defaults gets the
// Terminal button, the SSH command and its listening ports; one whose
// template turned web_terminal, ssh_helper and port_forwarding_helper off
// gets none of them (its ports are reported all the same), and its
// terminal page says why instead of opening.
func TestBrowserDisplayApps(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, testutil.WaitLong)
	startAgentWith(ctx, t, client, first.OrganizationID, "on", codersdk.ProvisionerAgent{})
	offID := startAgentWith(ctx, t, client, first.OrganizationID, "off", codersdk.ProvisionerAgent{
		DisplayApps: &codersdk.ProvisionerDisplayApps{VSCode: true},
	})
	// In this process the agents see the test's own listening sockets.
	require.Eventually(t, func() bool {
		ports, err := client.WorkspaceAgentListeningPorts(ctx, offID)
		return err == nil && len(ports.Ports) > 0
	}, testutil.WaitLong, 50*time.Millisecond, "the agent reports no listening ports")

	b := sitetest.New(t, sitetest.Options{Timeout: time.Minute})
	p := b.Open(srv.URL.String()+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)

	const card = `.agent[data-agent="main"]`
	p.Navigate(srv.URL.String() + "/@admin/on")
	p.WaitText(card+` [data-agent-status]`, regexp.MustCompile(`^connected$`), 30*time.Second)
	require.Equal(t, "Terminal", p.Text(card+` a[href$="/on.main/terminal"]`))
	require.Contains(t, p.Text(card+` [data-ssh]`), "coder ssh admin/on.main")
	p.WaitText(card+` ul.ports`, regexp.MustCompile(`\d`), 30*time.Second)

	p.Navigate(srv.URL.String() + "/@admin/off")
	p.WaitText(card+` [data-agent-status]`, regexp.MustCompile(`^connected$`), 30*time.Second)
	for _, sel := range []string{`a[href$="/terminal"]`, `[data-ssh]`, `ul.ports`} {
		has, _, err := p.Has(card + " " + sel)
		require.NoError(t, err)
		require.False(t, has, "%s is shown although the template turned it off", sel)
	}

	p.Navigate(srv.URL.String() + "/@admin/off.main/terminal")
	p.WaitText(`main`, regexp.MustCompile(`turned the web terminal off`), 30*time.Second)
	require.NotContains(t, p.URL(), "reconnect=", "the terminal did not open")
}
