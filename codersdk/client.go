// Package codersdk is the API contract between coderd and everything that
// talks to it: the request and response types and a typed client.
//
// House rules: this package imports nothing from the server side (coderd,
// coderd/database, provisionerd); handlers and clients share these types, so
// a field renamed here is renamed on both sides at once. Paths and JSON
// shapes follow Coder's wherever Coder has the same endpoint, so its users'
// scripts carry over.
package codersdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

const (
	// SessionTokenHeader carries the session or API token on every request.
	SessionTokenHeader = "Coder-Session-Token"
	// SessionTokenCookie carries the token for browsers and websockets.
	SessionTokenCookie = "coder_session_token"
	// BuildVersionHeader is set on every response so clients can warn about
	// version skew.
	BuildVersionHeader = "X-Coder-Build-Version"
)

// Client talks to one coderd. It is safe for concurrent use.
type Client struct {
	// URL is the deployment's access URL.
	URL *url.URL
	// HTTPClient sends the requests; http.DefaultClient when nil.
	HTTPClient *http.Client
	// Header is added to every request (e.g. a provisioner key header).
	// Set it before first use; it is read without locking.
	Header http.Header

	mu           sync.RWMutex // guards sessionToken
	sessionToken string
}

// New returns a client for the deployment at serverURL.
func New(serverURL *url.URL) *Client {
	return &Client{URL: serverURL, HTTPClient: &http.Client{}}
}

// SessionToken returns the token sent with each request.
func (c *Client) SessionToken() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.sessionToken
}

// SetSessionToken sets the token sent with each request.
func (c *Client) SetSessionToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sessionToken = token
}

// Request sends an API request. body, when not nil, is sent as JSON (or as
// is, for an io.Reader). The caller closes the response body.
func (c *Client) Request(ctx context.Context, method, path string, body any, opts ...RequestOption) (*http.Response, error) {
	u, err := c.URL.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("parse request path %q: %w", path, err)
	}
	var (
		r           io.Reader
		contentType string
	)
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r = b
		contentType = "application/octet-stream"
	case []byte:
		r = bytes.NewReader(b)
		contentType = "application/json"
	default:
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode request body: %w", err)
		}
		r = bytes.NewReader(buf)
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, fmt.Errorf("create request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if tok := c.SessionToken(); tok != "" {
		req.Header.Set(SessionTokenHeader, tok)
	}
	for _, opt := range opts {
		opt(req)
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	return resp, nil
}

// RequestOption changes a request before it is sent.
type RequestOption func(*http.Request)

// WithQueryParam adds a query parameter.
func WithQueryParam(key, value string) RequestOption {
	return func(r *http.Request) {
		if value == "" {
			return
		}
		q := r.URL.Query()
		q.Set(key, value)
		r.URL.RawQuery = q.Encode()
	}
}

// WithHeader sets a request header.
func WithHeader(key, value string) RequestOption {
	return func(r *http.Request) { r.Header.Set(key, value) }
}

// do sends a request, turns a non-expected status into *Error and decodes
// the JSON response into out (when out is not nil).
func (c *Client) do(ctx context.Context, method, path string, body any, want int, out any, opts ...RequestOption) error {
	resp, err := c.Request(ctx, method, path, body, opts...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return ReadBodyAsError(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s response: %w", method, path, err)
	}
	return nil
}

// Response is the body of every error answer, and of answers that only carry
// a message.
type Response struct {
	// Message is a one-line, human-readable summary.
	Message string `json:"message"`
	// Detail says more, for debugging: an underlying error, a hint.
	Detail string `json:"detail,omitempty"`
	// Validations name each bad field of the request and why.
	Validations []ValidationError `json:"validations,omitempty"`
}

// ValidationError names one bad field of a request.
type ValidationError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error is an API answer with an unexpected status. Check it with errors.As.
type Error struct {
	Response
	statusCode int
	method     string
	url        string
	// Helper is a hint for the user on what to do next.
	Helper string
}

// StatusCode is the HTTP status of the answer.
func (e *Error) StatusCode() int { return e.statusCode }

func (e *Error) Error() string {
	var b strings.Builder
	if e.method != "" {
		fmt.Fprintf(&b, "%s %s: ", e.method, e.url)
	}
	fmt.Fprintf(&b, "%d %s: %s", e.statusCode, http.StatusText(e.statusCode), e.Message)
	if e.Detail != "" {
		fmt.Fprintf(&b, ": %s", e.Detail)
	}
	for _, v := range e.Validations {
		fmt.Fprintf(&b, "\n\t%s: %s", v.Field, v.Detail)
	}
	if e.Helper != "" {
		fmt.Fprintf(&b, "\n%s", e.Helper)
	}
	return b.String()
}

// IsStatus reports whether err is an *Error with the given status.
func IsStatus(err error, status int) bool {
	var apiErr *Error
	return errors.As(err, &apiErr) && apiErr.StatusCode() == status
}

// ReadBodyAsError turns an answer with an unexpected status into *Error.
func ReadBodyAsError(res *http.Response) error {
	e := &Error{statusCode: res.StatusCode}
	if res.Request != nil {
		e.method = res.Request.Method
		e.url = res.Request.URL.String()
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read error body: %w", err)
	}
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if mt == "application/json" && json.Unmarshal(body, &e.Response) == nil && e.Message != "" {
		if res.StatusCode == http.StatusUnauthorized {
			e.Helper = "Try logging in with 'coder login'."
		}
		return e
	}
	e.Message = "unexpected non-JSON response"
	if len(body) > 0 {
		e.Detail = strings.TrimSpace(string(body))
		if len(e.Detail) > 512 {
			e.Detail = e.Detail[:512] + "..."
		}
	}
	return e
}

func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(r).Decode(v)
}
