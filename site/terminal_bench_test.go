package site_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/site/sitetest"
	"github.com/opencoder/coder/testutil"
)

// terminalMarker is what the benchmark's shell prints first. The command
// computes it, so the text only appears once the shell ran (the command
// line itself is never echoed: it is a URL parameter, not typed input).
const (
	terminalCommand = "echo READY$((40+2)); exec sh"
	terminalMarker  = "READY42"
)

// BenchmarkTerminalPage measures what a user waits for when opening a
// workspace's web terminal, in Chromium against an in-process coderd with
// the workspace's agent running in this process (everything on loopback):
// from the start of the navigation to /@admin/ws/terminal (redirect to a
// fresh session id, page, xterm.js, the websocket to coderd, coderd's
// tailnet connection to the agent, a new PTY and shell) until xterm.js's
// buffer holds the first output of that shell. The baseline is the same
// browser loading a trivial dashboard page (/login: HTML, CSS and script)
// to its load event. Each iteration opens a new terminal session. Figures
// only:
//
//	go run ./scripts/testpg -- go test -tags ts_debug_websockets ./site -run '^$' -bench TerminalPage -benchtime 10x
//
// xterm.js must be bundled into the binary first (make site-assets).
func BenchmarkTerminalPage(b *testing.B) {
	client, srv := coderdtest.New(b, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK})
	first := coderdtest.CreateFirstUser(b, client)
	ctx := testutil.Context(b, 20*time.Minute)
	requireXterm(ctx, b, srv.URL)
	startAgentWithApps(ctx, b, client, first.OrganizationID, "ws", nil)

	br := sitetest.New(b, sitetest.Options{})
	p := br.Open(srv.URL.String()+"/login", true)
	p.Fill(`input[name=email]`, "admin@example.com")
	p.Fill(`input[name=password]`, coderdtest.FirstUserPassword)
	p.Click(`main form button[type=submit]`)

	termURL := srv.URL.String() + "/@admin/ws/terminal?command=" + url.QueryEscape(terminalCommand)
	loginURL := srv.URL.String() + "/login"
	// awaitMarker resolves once the terminal's buffer holds the marker,
	// checking every 2 ms in the page itself (no round trip per check).
	const awaitMarker = `(mark) => new Promise((resolve, reject) => {
		const start = performance.now();
		const tick = () => {
			const t = window.coderTerminal;
			if (t) {
				const buf = t._core.buffer;
				for (let i = 0; i < buf.lines.length; i++) {
					if (buf.translateBufferLineToString(i, true).includes(mark)) return resolve(true);
				}
			}
			if (performance.now() - start > 60000) return reject(new Error("no " + mark + " in the terminal after 60 s"));
			setTimeout(tick, 2);
		};
		tick();
	})`
	openTerminal := func() time.Duration {
		t0 := time.Now()
		p.Navigate(termURL)
		_, err := p.Timeout(time.Minute).Eval(awaitMarker, terminalMarker)
		d := time.Since(t0)
		require.NoError(b, err, "the terminal never showed the shell's output")
		return d
	}
	openLogin := func() time.Duration {
		t0 := time.Now()
		p.Navigate(loginURL)
		return time.Since(t0)
	}
	openTerminal() // warm up: the first tailnet connection to the agent
	openLogin()

	var termLat, pageLat []time.Duration
	for b.Loop() {
		termLat = append(termLat, openTerminal())
		pageLat = append(pageLat, openLogin())
	}
	t50, t99 := percentiles(termLat)
	l50, _ := percentiles(pageLat)
	b.ReportMetric(t50, "terminal-p50-ms")
	b.ReportMetric(t99, "terminal-p99-ms")
	b.ReportMetric(l50, "page-p50-ms")
	if l50 > 0 {
		b.ReportMetric(t50/l50, "terminal/page")
	}
}

// requireXterm fails with the fix when the binary has no xterm.js.
func requireXterm(ctx context.Context, b testing.TB, base *url.URL) {
	b.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String()+"/static/vendor/xterm.js", nil)
	require.NoError(b, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(b, err)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("xterm.js is not built into this test binary (GET /static/vendor/xterm.js: %d): run make site-assets", res.StatusCode)
	}
}
