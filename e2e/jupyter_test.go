package e2e_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/site/sitetest"
)

// TestBrowserJupyter opens the docker template's Jupyter app in Chromium
// through coderd's subdomain app proxy: the dashboard reports it healthy
// (its /api healthcheck), the notebook list loads, and a Python kernel
// starts and its websocket opens through the proxy (Jupyter's XSRF and
// origin checks pass with the Host header the proxy keeps).
func TestBrowserJupyter(t *testing.T) {
	d := newDeployment(t, "--wildcard-access-url", "*.apps.localhost")
	// A name of its own, as in TestBrowserWorkspace.
	ws := fmt.Sprintf("jws%d", time.Now().UnixNano()%100000)
	cleanupDocker(t, "admin", ws)
	b := sitetest.New(t, sitetest.Options{Timeout: time.Minute})
	p := b.Open(d.url+"/workspaces", true)
	require.Contains(t, p.URL(), "/login")
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, "SomePass!234")
	p.Click(`main form button[type=submit]`)
	p.Navigate(d.url + "/templates")
	p.Click(`#new-template`)
	p.Submit(`[data-starter="docker"] button[type=submit]`)
	importStatus := p.WaitText(`#import-status`, regexp.MustCompile(`^(succeeded|failed|canceled)$`), 5*time.Minute)
	require.Equal(t, "succeeded", importStatus)
	p.Submit(`#create-template button[type=submit]`)

	p.Navigate(d.url + "/templates")
	p.Click(`a.button[href$="/docker/workspace"]`)
	p.Fill(`input[name=name]`, ws)
	p.Click(`main form button[type=submit]`)
	p.WaitText(`[data-agent="main"] [data-lifecycle]`, regexp.MustCompile(`^ready$`), 5*time.Minute)
	// The notebook server takes a few seconds to start after the agent
	// is ready; the healthcheck allows a minute.
	p.WaitText(`[data-agent="main"] [data-app="jupyter"] [data-health]`, regexp.MustCompile(`^healthy$`), 2*time.Minute)
	u, err := url.Parse(d.url)
	require.NoError(t, err)
	app := p.NewTab("http://jupyter--main--" + ws + "--admin.apps.localhost:" + u.Port() + "/tree")
	app.WaitText(`#notebook_list`, regexp.MustCompile(`.`), time.Minute)
	// Start a kernel as the notebook page would (XSRF token from its
	// cookie) and open its channels' websocket.
	res := app.MustEval(`() => new Promise((resolve) => {
		const xsrf = (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || "";
		fetch("/api/kernels", {method: "POST", headers: {"X-XSRFToken": decodeURIComponent(xsrf), "Content-Type": "application/json"}, body: "{}"})
			.then(r => r.json())
			.then(k => {
				const ws = new WebSocket("ws://" + location.host + "/api/kernels/" + k.id + "/channels");
				ws.onopen = () => resolve("open " + k.name);
				ws.onerror = () => resolve("ws error");
				setTimeout(() => resolve("ws timeout"), 20000);
			})
			.catch(e => resolve("error " + e));
	})`).String()
	require.True(t, strings.HasPrefix(res, "open python3"), "kernel: %s", res)
}
