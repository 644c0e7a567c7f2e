package workspaceapps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Dialer reaches a TCP port on a workspace agent's machine (coderd's own
// tailnet peer in production).
type Dialer interface {
	DialAgent(ctx context.Context, agentID uuid.UUID, port uint16) (net.Conn, error)
}

// agentHostSuffix marks the synthetic host the proxy's transport dials:
// "<agent-id>.agent.invalid:<port>". Keying the connection pool by agent
// keeps two workspaces' localhost:8080 apart.
const agentHostSuffix = ".agent.invalid"

// productCookies are never forwarded to an app, and an app may not set
// them: a path app shares the dashboard's origin.
var productCookies = map[string]bool{"coder_session_token": true, TokenCookie: true}

// productHeaders are stripped from requests to apps.
var productHeaders = []string{"Coder-Session-Token"}

type tokenKey struct{}

func newReverseProxy(d Dialer, onError func(http.ResponseWriter, *http.Request, error)) *httputil.ReverseProxy {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			host, portStr, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, fmt.Errorf("app address %q: %w", addr, err)
			}
			id, err := uuid.Parse(strings.TrimSuffix(host, agentHostSuffix))
			if err != nil {
				return nil, fmt.Errorf("app address %q: %w", addr, err)
			}
			port, err := strconv.ParseUint(portStr, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("app port %q: %w", portStr, err)
			}
			return d.DialAgent(ctx, id, uint16(port))
		},
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 0, // apps may stream (long polling, SSE)
		ForceAttemptHTTP2:     false,
	}
	return &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			tok := pr.In.Context().Value(tokenKey{}).(Token)
			target, _ := url.Parse(tok.TargetURL) // validated when the token was made
			port := target.Port()
			if port == "" {
				port = "80"
				if target.Scheme == "https" {
					port = "443"
				}
			}
			pr.Out.URL.Scheme = "http"
			if target.Scheme == "https" {
				pr.Out.URL.Scheme = "https"
			}
			pr.Out.URL.Host = tok.AgentID.String() + agentHostSuffix + ":" + port
			rest := strings.TrimPrefix(pr.In.URL.Path, strings.TrimSuffix(tok.Request.BasePath, "/"))
			if tok.Request.Method == AccessSubdomain {
				rest = pr.In.URL.Path
			}
			pr.Out.URL.Path = joinPath(target.Path, rest)
			pr.Out.URL.RawPath = ""
			pr.Out.URL.RawQuery = stripTicket(pr.In.URL.Query()).Encode()
			// The app sees the host the browser used (apps build absolute
			// URLs and check websocket origins against it).
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			if tok.Request.Method == AccessPath {
				pr.Out.Header.Set("X-Forwarded-Prefix", strings.TrimSuffix(tok.Request.BasePath, "/"))
			}
			stripProductCredentials(pr.Out)
		},
		ModifyResponse: func(res *http.Response) error {
			dropProductSetCookies(res.Header)
			return nil
		},
		ErrorHandler: onError,
	}
}

func joinPath(base, rest string) string {
	if rest == "" {
		rest = "/"
	}
	if base == "" || base == "/" {
		return rest
	}
	return strings.TrimSuffix(base, "/") + rest
}

func stripTicket(q url.Values) url.Values {
	q.Del(TicketParam)
	return q
}

// stripProductCredentials removes the product's cookies and headers from a
// request bound for an app, keeping the app's own cookies.
func stripProductCredentials(r *http.Request) {
	for _, h := range productHeaders {
		r.Header.Del(h)
	}
	cookies := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range cookies {
		if !productCookies[c.Name] {
			r.AddCookie(c)
		}
	}
}

func dropProductSetCookies(h http.Header) {
	lines := h.Values("Set-Cookie")
	if len(lines) == 0 {
		return
	}
	h.Del("Set-Cookie")
	for _, line := range lines {
		c, err := http.ParseSetCookie(line)
		if err == nil && productCookies[c.Name] {
			continue
		}
		h.Add("Set-Cookie", line)
	}
}

// appErrorStatus maps a proxy failure to an answer for the browser.
func appErrorStatus(err error) int {
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}
