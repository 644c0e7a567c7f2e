package site_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// dashboard is a real coderd with the dashboard in front of it.
type dashboard struct {
	URL    *url.URL
	Client *codersdk.Client // unauthenticated API client
	Server *coderdtest.Server
}

// newDashboard starts coderd (real PostgreSQL), which serves the dashboard
// and the API on one port.
func newDashboard(t *testing.T) *dashboard {
	t.Helper()
	client, srv := coderdtest.New(t, &coderdtest.Options{Logger: testutil.Logger(t)})
	return &dashboard{URL: srv.URL, Client: client, Server: srv}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see each hop.
type browser struct {
	t    *testing.T
	base *url.URL
	http *http.Client
}

func (d *dashboard) browser(t *testing.T) *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, base: d.URL, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	Status   int
	Location string
	Body     string
	Header   http.Header
}

func (b *browser) do(method, path string, form url.Values, headers ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(testutil.Context(b.t, testutil.WaitMedium), method, b.base.String()+path, body)
	require.NoError(b.t, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := b.http.Do(req)
	require.NoError(b.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(b.t, err)
	return page{Status: res.StatusCode, Location: res.Header.Get("Location"), Body: string(raw), Header: res.Header}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil) }

func (b *browser) post(path string, form url.Values) page { return b.do(http.MethodPost, path, form) }

// login signs the browser in through the form.
func (b *browser) login(email, password string) {
	b.t.Helper()
	p := b.post("/login", url.Values{"email": {email}, "password": {password}})
	require.Equal(b.t, http.StatusSeeOther, p.Status, "login: %s", p.Body)
}
