package workspaceapps

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/opencoder/coder/codersdk"
)

// AccessMethod says how an app was addressed.
type AccessMethod string

// Access methods.
const (
	AccessPath      AccessMethod = "path"
	AccessSubdomain AccessMethod = "subdomain"
)

// Request names one app (or port) of one workspace, as addressed in a URL.
type Request struct {
	Method        AccessMethod `json:"method"`
	Username      string       `json:"username"`
	WorkspaceName string       `json:"workspace"`
	// AgentName is empty when the URL left it out (the workspace must
	// then have exactly one agent).
	AgentName string `json:"agent,omitempty"`
	// Slug is the app's slug; Port is set instead for a port.
	Slug string `json:"slug,omitempty"`
	Port uint16 `json:"port,omitempty"`
	// BasePath is the path prefix the app is served under: "/" for a
	// subdomain, "/@user/ws.agent/apps/slug/" for a path app.
	BasePath string `json:"base_path"`
}

// Key identifies the app independent of how it was addressed, for token
// checks: a token for one app never opens another.
func (r Request) Key() string {
	target := r.Slug
	if r.Port != 0 {
		target = strconv.Itoa(int(r.Port))
	}
	return strings.Join([]string{string(r.Method), r.Username, r.WorkspaceName, r.AgentName, target}, "/")
}

// nameRe is what usernames, workspace names, agent names and slugs look
// like: single hyphens (or underscores, which Terraform names may have)
// between alphanumerics. No name holds "--", which is what makes the
// subdomain form unambiguous.
var nameRe = regexp.MustCompile(`^[a-zA-Z0-9]+(?:[-_][a-zA-Z0-9]+)*$`)

// ErrNotApp means the host or path is not an app address at all (serve it
// as something else); other errors mean a malformed app address.
var ErrNotApp = errors.New("not an app address")

// ParseSubdomain reads an app address from host (port stripped or not)
// under the wildcard domain pattern "*.apps.example.com". Labels are
// separated by "--": app--agent--workspace--user, or app--workspace--user
// when the workspace has a single agent.
func ParseSubdomain(host, wildcard string) (Request, error) {
	suffix, ok := strings.CutPrefix(strings.ToLower(wildcard), "*")
	if !ok || !strings.HasPrefix(suffix, ".") || len(suffix) < 3 {
		return Request{}, fmt.Errorf("wildcard %q must look like *.apps.example.com", wildcard)
	}
	if h, _, found := strings.Cut(host, ":"); found {
		host = h
	}
	label, ok := strings.CutSuffix(strings.ToLower(host), suffix)
	if !ok || label == "" || strings.Contains(label, ".") {
		return Request{}, ErrNotApp
	}
	parts := strings.Split(label, "--")
	req := Request{Method: AccessSubdomain, BasePath: "/"}
	switch len(parts) {
	case 4:
		req.AgentName, req.WorkspaceName, req.Username = parts[1], parts[2], parts[3]
	case 3:
		req.WorkspaceName, req.Username = parts[1], parts[2]
	default:
		return Request{}, fmt.Errorf("app host %q: want app--agent--workspace--user (or app--workspace--user)", host)
	}
	if err := req.setTarget(parts[0]); err != nil {
		return Request{}, err
	}
	return req, req.validate()
}

// ParsePath reads a path app address: /@user/workspace[.agent]/apps/slug/
// (or .../ports/8080/). rest is the remainder to forward, always starting
// with "/". A path without the trailing slash after the slug is reported
// with redirect set, so the caller can send the browser to the canonical
// address (relative links inside the app depend on it).
func ParsePath(path string) (req Request, rest string, redirect bool, err error) {
	p, ok := strings.CutPrefix(path, "/@")
	if !ok {
		return Request{}, "", false, ErrNotApp
	}
	segs := strings.SplitN(p, "/", 5)
	if len(segs) < 4 || (segs[2] != "apps" && segs[2] != "ports") {
		return Request{}, "", false, ErrNotApp
	}
	req = Request{Method: AccessPath, Username: segs[0]}
	req.WorkspaceName, req.AgentName, _ = strings.Cut(segs[1], ".")
	if segs[2] == "ports" {
		port, perr := strconv.ParseUint(segs[3], 10, 16)
		if perr != nil || port == 0 {
			return Request{}, "", false, fmt.Errorf("app path: port %q must be a number from 1 to 65535", segs[3])
		}
		req.Port = uint16(port)
	} else {
		req.Slug = segs[3]
	}
	if err := req.validate(); err != nil {
		return Request{}, "", false, err
	}
	req.BasePath = "/@" + segs[0] + "/" + segs[1] + "/" + segs[2] + "/" + segs[3] + "/"
	if len(segs) == 4 {
		return req, "/", true, nil
	}
	return req, "/" + segs[4], false, nil
}

func (r *Request) setTarget(s string) error {
	if s != "" && s[0] >= '0' && s[0] <= '9' {
		if port, err := strconv.ParseUint(s, 10, 16); err == nil {
			if port == 0 {
				return errors.New("app port must be from 1 to 65535")
			}
			r.Port = uint16(port)
			return nil
		}
	}
	r.Slug = s
	return nil
}

func (r Request) validate() error {
	check := func(what, v string, optional bool) error {
		if v == "" && optional {
			return nil
		}
		if !nameRe.MatchString(v) || len(v) > 64 {
			return fmt.Errorf("app address: %s %q is not a valid name", what, v)
		}
		return nil
	}
	if err := check("user", r.Username, false); err != nil {
		return err
	}
	if err := check("workspace", r.WorkspaceName, false); err != nil {
		return err
	}
	if err := check("agent", r.AgentName, true); err != nil {
		return err
	}
	if r.Port == 0 {
		return check("app", r.Slug, false)
	}
	return nil
}

// SubdomainHost returns the host of an app under wildcard, the inverse of
// ParseSubdomain (for links on the dashboard).
func SubdomainHost(wildcard string, r Request) string {
	target := r.Slug
	if r.Port != 0 {
		target = strconv.Itoa(int(r.Port))
	}
	return codersdk.AppSubdomainHost(wildcard, target, r.AgentName, r.WorkspaceName, r.Username)
}
