package site

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

// inprocTransport sends codersdk requests straight into the API handler,
// without a socket: the dashboard is an API client that lives in the same
// process. Only whole (non-streaming) answers are supported; live views
// (build logs, the terminal) are opened by the browser against the API.
type inprocTransport struct {
	api http.Handler
}

type remoteAddrKey struct{}

// withRemoteAddr carries the browser's address into the in-process API
// request, so the API's per-address rate limits and audit entries see the
// real caller rather than the dashboard.
func withRemoteAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, remoteAddrKey{}, addr)
}

func (t inprocTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if addr, ok := req.Context().Value(remoteAddrKey{}).(string); ok {
		req.RemoteAddr = addr
	}
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:0"
	}
	req.RequestURI = req.URL.RequestURI()
	// The request's context descends from the page's, which carries the
	// dashboard router's routing state; the API's router must start fresh.
	req = req.WithContext(context.WithValue(req.Context(), chi.RouteCtxKey, (*chi.Context)(nil)))
	rec := &bufferedResponse{header: http.Header{}}
	t.api.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{
		Status:        http.StatusText(rec.status),
		StatusCode:    rec.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        rec.header,
		Body:          io.NopCloser(&rec.body),
		ContentLength: int64(rec.body.Len()),
		Request:       req,
	}, nil
}

// bufferedResponse is the http.ResponseWriter of one in-process call.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// client returns a codersdk client that calls the API in-process with the
// given session token ("" for anonymous calls such as login).
func (s *Site) client(token string) *codersdk.Client {
	c := codersdk.New(&url.URL{Scheme: "http", Host: "coderd.internal"})
	c.HTTPClient = &http.Client{Transport: s.transport}
	if token != "" {
		c.SetSessionToken(token)
	}
	return c
}
