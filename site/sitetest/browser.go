// Package sitetest drives Debian's Chromium from Go tests (through rod and
// the DevTools protocol) to test the dashboard as a user meets it: real
// page loads, real forms, real websockets. On failure it saves a
// screenshot and the page's HTML for the CI artifacts.
//
// Tests that need a browser call New; when no Chromium is installed the
// test fails with the command that installs it (make deps), never skips
// silently: CI installs it.
package sitetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/input"
	"github.com/go-rod/rod/lib/launcher"
	"github.com/go-rod/rod/lib/proto"
)

// Options tune the browser.
type Options struct {
	// HostRules are Chromium --host-resolver-rules, e.g. "MAP *.apps.test
	// 127.0.0.1" to reach subdomain apps on loopback.
	HostRules string
	// Timeout bounds every page operation (default 30 s).
	Timeout time.Duration
}

// Browser is one headless Chromium, closed when the test ends.
type Browser struct {
	t       testing.TB
	rod     *rod.Browser
	timeout time.Duration
}

// chromiumPath finds Debian's Chromium (or $CHROMIUM).
func chromiumPath() (string, error) {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found: run `make deps` (it installs Debian's chromium) or set CHROMIUM")
}

// New starts a headless Chromium for t.
func New(t testing.TB, opts Options) *Browser {
	t.Helper()
	bin, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	l := launcher.New().Bin(bin).Headless(true).NoSandbox(true).Leakless(false).
		Set("disable-gpu").Set("disable-dev-shm-usage").Set("no-first-run").
		Set("window-size", "1280,800")
	if opts.HostRules != "" {
		l = l.Set("host-resolver-rules", opts.HostRules)
	}
	u, err := l.Launch()
	if err != nil {
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	b := rod.New().ControlURL(u)
	if err := b.Connect(); err != nil {
		l.Kill()
		t.Fatalf("connect to chromium: %v", err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		l.Kill()
		l.Cleanup()
	})
	return &Browser{t: t, rod: b, timeout: opts.Timeout}
}

// Page is one tab.
type Page struct {
	*rod.Page
	t       testing.TB
	timeout time.Duration
	// ctx is the browser context (cookies) the tab belongs to.
	ctx *Browser
}

// Open loads url in a new tab (an incognito context when fresh, so each
// call can be a different user) and registers the failure artifacts.
func (b *Browser) Open(url string, fresh bool) *Page {
	b.t.Helper()
	br := b.rod
	if fresh {
		inc, err := br.Incognito()
		if err != nil {
			b.t.Fatalf("incognito context: %v", err)
		}
		br = inc
	}
	return (&Browser{t: b.t, rod: br, timeout: b.timeout}).open(url)
}

// NewTab opens url in another tab of the same browser context: same
// cookies, so the same signed-in user.
func (p *Page) NewTab(url string) *Page {
	p.t.Helper()
	return p.ctx.open(url)
}

func (b *Browser) open(url string) *Page {
	b.t.Helper()
	p, err := b.rod.Page(proto.TargetCreateTarget{URL: "about:blank"})
	if err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	page := &Page{Page: p, t: b.t, timeout: b.timeout, ctx: b}
	b.t.Cleanup(func() {
		if b.t.Failed() {
			page.SaveArtifacts()
		}
		_ = p.Close()
	})
	page.Navigate(url)
	return page
}

// Navigate loads url and waits for the load event.
func (p *Page) Navigate(url string) {
	p.t.Helper()
	pg := p.Timeout(p.timeout)
	if err := pg.Navigate(url); err != nil {
		p.t.Fatalf("navigate %s: %v", url, err)
	}
	if err := pg.WaitLoad(); err != nil {
		p.t.Fatalf("load %s: %v", url, err)
	}
}

// Fill types text into the element matching selector, replacing its value.
func (p *Page) Fill(selector, text string) {
	p.t.Helper()
	el := p.Find(selector)
	if err := el.SelectAllText(); err != nil {
		p.t.Fatalf("select %s: %v", selector, err)
	}
	if err := el.Input(text); err != nil {
		p.t.Fatalf("type into %s: %v", selector, err)
	}
}

// Find waits for an element matching selector.
func (p *Page) Find(selector string) *rod.Element {
	p.t.Helper()
	el, err := p.Timeout(p.timeout).Element(selector)
	if err != nil {
		p.t.Fatalf("find %s on %s: %v", selector, p.MustInfo().URL, err)
	}
	return el.CancelTimeout()
}

// Click clicks the element matching selector and waits for the navigation
// it starts, if any, to load.
func (p *Page) Click(selector string) {
	p.t.Helper()
	el := p.Find(selector)
	wait := p.Timeout(p.timeout).WaitNavigation(proto.PageLifecycleEventNameLoad)
	if err := el.Click(proto.InputMouseButtonLeft, 1); err != nil {
		p.t.Fatalf("click %s: %v", selector, err)
	}
	wait()
}

// Submit clicks the element matching selector from the page's own script
// (one step, so a part of the page that refreshes itself cannot swap the
// element out between finding and clicking it) and waits for the
// navigation it starts.
func (p *Page) Submit(selector string) {
	p.t.Helper()
	wait := p.Timeout(p.timeout).WaitNavigation(proto.PageLifecycleEventNameLoad)
	res, err := p.Timeout(p.timeout).Eval(`(sel) => { const el = document.querySelector(sel); if (!el) return false; el.click(); return true; }`, selector)
	if err != nil || !res.Value.Bool() {
		p.t.Fatalf("submit %s: not found (%v)", selector, err)
	}
	wait()
}

// SubmitConfirmed is Submit for an action that asks "are you sure?" first
// (a confirm dialog): it accepts the dialog, as a user clicking OK would.
func (p *Page) SubmitConfirmed(selector string) {
	p.t.Helper()
	wait, handle := p.Timeout(p.timeout).HandleDialog()
	accepted := make(chan error, 1)
	go func() {
		wait()
		accepted <- handle(&proto.PageHandleJavaScriptDialog{Accept: true})
	}()
	p.Submit(selector)
	if err := <-accepted; err != nil {
		p.t.Fatalf("accept the confirmation of %s: %v", selector, err)
	}
}

// Text returns the visible text of the element matching selector.
func (p *Page) Text(selector string) string {
	p.t.Helper()
	s, err := p.Find(selector).Text()
	if err != nil {
		p.t.Fatalf("text of %s: %v", selector, err)
	}
	return s
}

// WaitText waits until the element's text matches re, and returns it.
func (p *Page) WaitText(selector string, re *regexp.Regexp, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	// Background tabs get no animation frames, and terminals render on
	// them: read from the front.
	if _, err := p.Activate(); err != nil {
		p.t.Fatalf("activate tab: %v", err)
	}
	for {
		// innerText of a fresh query each time: robust to the element
		// being replaced (polling, a reload) between reads.
		res, err := p.Timeout(5*time.Second).Eval(`(sel) => { const el = document.querySelector(sel); return el ? el.innerText : null }`, selector)
		if err == nil && res != nil && !res.Value.Nil() {
			last = res.Value.Str()
			if re.MatchString(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %s for %s to match %s; last text:\n%s", within, selector, re, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// WaitTerminal waits until the web terminal's buffer (scrollback and
// screen, read through xterm.js rather than the DOM, so it does not depend
// on the tab being painted) matches re, and returns it.
func (p *Page) WaitTerminal(re *regexp.Regexp, within time.Duration) string {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for {
		res, err := p.Timeout(5 * time.Second).Eval(`() => { const t = window.coderTerminal; if (!t) return null; const b = t._core.buffer; const out = []; for (let i = 0; i < b.lines.length; i++) out.push(b.translateBufferLineToString(i, true)); return out.join("\n"); }`)
		if err == nil && res != nil && !res.Value.Nil() {
			last = res.Value.Str()
			if re.MatchString(last) {
				return last
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited %s for the terminal to match %s; its text:\n%s", within, re, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// URL is the page's current address.
func (p *Page) URL() string { return p.MustInfo().URL }

// ArtifactsDir is where failure screenshots go: $TEST_ARTIFACTS_DIR, or
// build/test-artifacts at the repository root.
func ArtifactsDir() string {
	if d := os.Getenv("TEST_ARTIFACTS_DIR"); d != "" {
		return d
	}
	dir, _ := os.Getwd()
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "build", "test-artifacts")
		}
	}
	return filepath.Join(os.TempDir(), "coder-test-artifacts")
}

// SaveArtifacts writes a screenshot and the page HTML named for the test.
func (p *Page) SaveArtifacts() {
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(p.t.Name(), "_")
	dir := ArtifactsDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Logf("artifacts: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pg := p.Context(ctx)
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	if png, err := pg.Screenshot(true, nil); err == nil {
		_ = os.WriteFile(base+".png", png, 0o644)
	}
	if html, err := pg.HTML(); err == nil {
		_ = os.WriteFile(base+".html", []byte(html), 0o644)
	}
	info, _ := pg.Info()
	url := ""
	if info != nil {
		url = info.URL
	}
	p.t.Logf("browser artifacts for %s: %s.{png,html}", strings.TrimSpace(url), base)
}

// Type sends text as key presses to the focused element ("\r" is Enter),
// as a user typing would: terminals listen to key events, not values.
func (p *Page) Type(text string) {
	p.t.Helper()
	keys := make([]input.Key, 0, len(text))
	for _, r := range text {
		switch r {
		case '\r', '\n':
			keys = append(keys, input.Enter)
		case '\x1b':
			keys = append(keys, input.Escape)
		default:
			keys = append(keys, input.Key(r))
		}
	}
	if err := p.Timeout(p.timeout).KeyActions().Type(keys...).Do(); err != nil {
		p.t.Fatalf("type %q: %v", text, err)
	}
}

// SendTerminal feeds text to the web terminal through xterm.js's own input
// path (as its keyboard handler does), for keys a synthetic keyboard cannot
// produce reliably: escape sequences and shifted symbols.
func (p *Page) SendTerminal(text string) {
	p.t.Helper()
	if _, err := p.Timeout(p.timeout).Eval(`(s) => window.coderTerminal._core.handler(s)`, text); err != nil {
		p.t.Fatalf("send %q to the terminal: %v", text, err)
	}
}

// Resize sets the window's inner size, as dragging its edge would.
func (p *Page) Resize(width, height int) {
	p.t.Helper()
	if err := p.SetViewport(&proto.EmulationSetDeviceMetricsOverride{Width: width, Height: height, DeviceScaleFactor: 1}); err != nil {
		p.t.Fatalf("resize to %dx%d: %v", width, height, err)
	}
	// The page sees a resize event only from a real window change; tell it.
	if _, err := p.Eval(`() => window.dispatchEvent(new Event("resize"))`); err != nil {
		p.t.Fatalf("dispatch resize: %v", err)
	}
}
