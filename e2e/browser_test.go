package e2e_test

import (
	"fmt"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/site/sitetest"
)

// TestBrowserWorkspace is issue 8's "done when" in Chromium, against the
// real binary and real Docker: sign in through the form, create a workspace
// from the docker template through the form, watch it build and its agent
// turn ready, use the web terminal (command output, scrollback after a
// reload, resize, a full-screen program), open the workspace's app by path
// and by subdomain, and see another user refused; the template comes from
// the dashboard's starters, and --browser-only refuses the CLI's tailnet.
func TestBrowserWorkspace(t *testing.T) {
	// *.localhost resolves to loopback in Chromium itself: no DNS needed
	// for subdomain apps.
	// --browser-only: the CLI's tailnet is refused while the dashboard's
	// terminal and apps work, as the issue requires of that mode.
	d := newDeployment(t, "--wildcard-access-url", "*.apps.localhost", "--browser-only")
	// A name of its own, so a container left by an earlier run that was
	// killed cannot collide with this one.
	ws := fmt.Sprintf("bws%d", time.Now().UnixNano()%100000)
	cleanupDocker(t, "admin", ws)
	d.run("users", "create", "--username", "bob", "--email", "bob@example.com", "--password", "SomePass!234")

	b := sitetest.New(t, sitetest.Options{Timeout: time.Minute})
	p := b.Open(d.url+"/workspaces", true)
	require.Contains(t, p.URL(), "/login")
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, "SomePass!234")
	p.Click(`main form button[type=submit]`)
	require.True(t, strings.HasSuffix(p.URL(), "/workspaces"), p.URL())

	// The template comes from the dashboard's built-in starters: a new
	// deployment needs no CLI and no Terraform checkout.
	p.Navigate(d.url + "/templates")
	p.Click(`#new-template`)
	p.Submit(`[data-starter="docker"] button[type=submit]`)
	require.Contains(t, p.URL(), "/templates/new?version=")
	importStatus := p.WaitText(`#import-status`, regexp.MustCompile(`^(succeeded|failed|canceled)$`), 5*time.Minute)
	require.Equal(t, "succeeded", importStatus, "the starter's import")
	p.Submit(`#create-template button[type=submit]`)
	require.True(t, strings.HasSuffix(p.URL(), "/templates/default/docker") || strings.Contains(p.URL(), "/docker"), p.URL())

	// Create a workspace through the form.
	p.Navigate(d.url + "/templates")
	p.Click(`a.button[href$="/docker/workspace"]`)
	p.Fill(`input[name=name]`, ws)
	p.Click(`main form button[type=submit]`)
	require.True(t, strings.HasSuffix(p.URL(), "/@admin/"+ws), p.URL())

	// The build log streams in; the status and the agent follow without a
	// reload.
	buildLog := p.WaitText(`#build-log`, regexp.MustCompile(`Apply complete|Error: `), 5*time.Minute)
	require.Contains(t, buildLog, "Apply complete", "the build failed")
	p.WaitText(`#ws-status`, regexp.MustCompile(`^running$`), 2*time.Minute)
	p.WaitText(`[data-agent="main"] [data-lifecycle]`, regexp.MustCompile(`^ready$`), 3*time.Minute)
	p.WaitText(`[data-agent="main"] [data-app="files"]`, regexp.MustCompile(`Files`), 10*time.Second)
	// The agent card shows how this server reaches the agent, and how fast.
	p.WaitText(`[data-agent="main"] [data-ping]`, regexp.MustCompile(`^(direct \(peer to peer\)|relayed via DERP.*) · [0-9.]+ ms$`), 45*time.Second)

	t.Run("browser only", func(t *testing.T) {
		out, err := d.try("ssh", ws, "--", "true")
		require.Error(t, err, "coder ssh must be refused under --browser-only:\n%s", out)
		require.Contains(t, out, "only allows connections from the browser")
	})

	t.Run("terminal", func(t *testing.T) {
		term := p.NewTab(d.url + "/@admin/" + ws + ".main/terminal")
		require.Contains(t, term.URL(), "reconnect=", "the session id is put in the URL so a reload resumes it")
		term.WaitText(`#terminal-state`, regexp.MustCompile(`^connected$`), time.Minute)
		term.Find(`#terminal`).MustClick()
		term.Type("expr 50 - 8\r")
		term.WaitTerminal(regexp.MustCompile(`(?m)^42\s*$`), 30*time.Second)

		// Loading the page again resumes the same shell, scrollback
		// included.
		first := term
		term = p.NewTab(first.URL())
		require.NoError(t, first.Close())
		term.WaitText(`#terminal-state`, regexp.MustCompile(`^connected$`), time.Minute)
		term.WaitTerminal(regexp.MustCompile(`expr 50 - 8`), 30*time.Second)

		// Resizing the window resizes the PTY.
		term.Find(`#terminal`).MustClick()
		term.Resize(700, 400)
		time.Sleep(500 * time.Millisecond) // let the fit and the resize message settle
		term.Type("stty size\r")
		small := term.WaitTerminal(regexp.MustCompile(`stty size\s*\n\d+ \d+`), 30*time.Second)
		term.Resize(1200, 800)
		time.Sleep(500 * time.Millisecond)
		term.Type("stty size\r")
		large := term.WaitTerminal(regexp.MustCompile(`(?s)stty size\s*\n\d+ \d+.*stty size\s*\n\d+ \d+`), 30*time.Second)
		require.NotEqual(t, sttySize(small), sttySize(large), "stty size follows the window")

		// A full-screen program draws and exits.
		term.Type("vi /tmp/e2e.txt\r")
		term.WaitTerminal(regexp.MustCompile(`(?m)^~`), 30*time.Second)
		// Escape on its own: vi reads an escape followed at once by more
		// bytes as a key sequence, as it would from a real keyboard too.
		term.SendTerminal("\x1b")
		time.Sleep(300 * time.Millisecond)
		term.SendTerminal(":q!\r")
		// Back at the prompt before typing on: vim (the image's vi)
		// drops typeahead when it quits.
		term.WaitTerminal(regexp.MustCompile(`vi /tmp/e2e\.txt\s*\n[^\n]*\$`), 30*time.Second)
		term.Type("echo vi-done\r")
		term.WaitTerminal(regexp.MustCompile(`(?m)^vi-done\s*$`), 30*time.Second)
	})

	t.Run("path app", func(t *testing.T) {
		app := p.NewTab(d.url + "/@admin/" + ws + ".main/apps/files/")
		app.WaitText(`h1`, regexp.MustCompile(`Hello from `+ws), time.Minute)
	})

	t.Run("subdomain app", func(t *testing.T) {
		u, err := url.Parse(d.url)
		require.NoError(t, err)
		app := p.NewTab("http://files--main--" + ws + "--admin.apps.localhost:" + u.Port() + "/")
		app.WaitText(`h1`, regexp.MustCompile(`Hello from `+ws), time.Minute)
		require.NotContains(t, app.URL(), "coder_app_ticket", "the one-time ticket does not linger in the address")
	})

	t.Run("hostile app", func(t *testing.T) {
		// A CGI script in the Files app's web root answers like a hostile
		// app: it tries to set the dashboard's session cookie, opens CORS
		// wide, and its script tries to read the session and the API.
		ctrs := containers(t, "admin", ws)
		require.Len(t, ctrs, 1)
		installCGI(t, ctrs[0], "probe", hostileCGI(d.url))
		u, err := url.Parse(d.url)
		require.NoError(t, err)

		sub := p.NewTab("http://files--main--" + ws + "--admin.apps.localhost:" + u.Port() + "/cgi-bin/probe")
		got := sub.WaitText(`#out`, regexp.MustCompile(`"api"`), time.Minute)
		require.Contains(t, got, `"api":"blocked"`, "a subdomain app cannot read the dashboard's API with the user's session")
		require.NotContains(t, got, "coder_session_token")

		path := p.NewTab(d.url + "/@admin/" + ws + ".main/apps/files/cgi-bin/probe")
		got = path.WaitText(`#out`, regexp.MustCompile(`"api"`), time.Minute)
		require.NotContains(t, got, "coder_session_token", "the session cookie is HttpOnly: a path app's script cannot read it")

		// Neither app replaced the session: the dashboard still knows us.
		cookies, err := p.Cookies([]string{d.url})
		require.NoError(t, err)
		for _, c := range cookies {
			require.NotEqual(t, "stolen", c.Value, "cookie %s was set by an app", c.Name)
		}
		p.Navigate(d.url + "/workspaces")
		require.True(t, strings.HasSuffix(p.URL(), "/workspaces"), "still signed in: %s", p.URL())
	})

	t.Run("another user", func(t *testing.T) {
		bob := b.Open(d.url+"/login", true)
		bob.Fill(`input[name=email]`, "bob@example.com")
		bob.Fill(`input[name=password]`, "SomePass!234")
		bob.Click(`main form button[type=submit]`)
		bob.Navigate(d.url + "/@admin/" + ws + ".main/apps/files/")
		bob.WaitText(`body`, regexp.MustCompile(`No such app, or you may not open it`), 30*time.Second)
		bob.Navigate(d.url + "/@admin/" + ws)
		bob.WaitText(`h1`, regexp.MustCompile(`Not Found`), 30*time.Second)
	})

	// Stop and start from the dashboard.
	p.Navigate(d.url + "/@admin/" + ws)
	p.Submit(`button[name=action][value=stop]`)
	status := p.WaitText(`#ws-status`, regexp.MustCompile(`^(stopped|failed)$`), 3*time.Minute)
	require.Equal(t, "stopped", status)
	p.Submit(`button[name=action][value=start]`)
	status = p.WaitText(`#ws-status`, regexp.MustCompile(`^(running|failed)$`), 3*time.Minute)
	require.Equal(t, "running", status)
	d.run("delete", ws, "-y")
}

// sttySize is the last "rows cols" line stty printed.
func sttySize(screen string) string {
	m := regexp.MustCompile(`(?m)^(\d+ \d+)\s*$`).FindAllStringSubmatch(screen, -1)
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1][1]
}

// hostileCGI is a CGI script that behaves like a hostile app: it sets a
// cookie named like the dashboard's session, allows every origin with
// credentials, and its page reports what its script could read: its
// document.cookie and the dashboard's /api/v2/users/me.
func hostileCGI(dashboard string) string {
	return `#!/bin/sh
printf 'Content-Type: text/html\r\n'
printf 'Set-Cookie: coder_session_token=stolen; Path=/\r\n'
printf 'Set-Cookie: coder_session_token=stolen; Path=/; Domain=localhost\r\n'
printf 'Access-Control-Allow-Origin: *\r\n'
printf 'Access-Control-Allow-Credentials: true\r\n'
printf '\r\n'
cat <<'EOF'
<!doctype html><title>probe</title><pre id="out"></pre>
<script>
var out = {cookie: document.cookie};
fetch("` + dashboard + `/api/v2/users/me", {credentials: "include"})
  .then(function (r) { return r.text(); })
  .then(function (t) { out.api = "read:" + t; }, function () { out.api = "blocked"; })
  .then(function () { document.getElementById("out").textContent = JSON.stringify(out); });
</script>
EOF
`
}

// installCGI writes an executable script into the Files app's web root
// (~/www/cgi-bin), which busybox httpd runs as CGI.
func installCGI(t *testing.T, container, name, script string) {
	t.Helper()
	cmd := exec.Command("docker", "exec", "-i", container, "sh", "-c", "mkdir -p ~/www/cgi-bin && cat > ~/www/cgi-bin/"+name+" && chmod +x ~/www/cgi-bin/"+name)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "install %s: %s", name, out)
}
