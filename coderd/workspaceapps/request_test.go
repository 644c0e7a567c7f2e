package workspaceapps

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseSubdomain(t *testing.T) {
	t.Parallel()
	const wc = "*.apps.example.com"
	tests := []struct {
		host    string
		want    Request
		notApp  bool
		wantErr string
	}{
		{host: "code--main--ws1--alice.apps.example.com", want: Request{Method: AccessSubdomain, Slug: "code", AgentName: "main", WorkspaceName: "ws1", Username: "alice", BasePath: "/"}},
		{host: "code--ws1--alice.apps.example.com:3000", want: Request{Method: AccessSubdomain, Slug: "code", WorkspaceName: "ws1", Username: "alice", BasePath: "/"}},
		{host: "8080--main--ws1--alice.apps.example.com", want: Request{Method: AccessSubdomain, Port: 8080, AgentName: "main", WorkspaceName: "ws1", Username: "alice", BasePath: "/"}},
		{host: "CODE--Main--WS1--Alice.APPS.example.com", want: Request{Method: AccessSubdomain, Slug: "code", AgentName: "main", WorkspaceName: "ws1", Username: "alice", BasePath: "/"}},
		{host: "apps.example.com", notApp: true},
		{host: "example.com", notApp: true},
		{host: "a.b.apps.example.com", notApp: true},
		{host: "coder.example.com", notApp: true},
		{host: "code--alice.apps.example.com", wantErr: "want app--agent--workspace--user"},
		{host: "a--b--c--d--e.apps.example.com", wantErr: "want app--agent--workspace--user"},
		{host: "code--main--ws_1--alice.apps.example.com", want: Request{Method: AccessSubdomain, Slug: "code", AgentName: "main", WorkspaceName: "ws_1", Username: "alice", BasePath: "/"}},
		{host: "code--main--ws1--al%ice.apps.example.com", wantErr: "user"},
		{host: "0--main--ws1--alice.apps.example.com", wantErr: "port"},
		{host: "70000--main--ws1--alice.apps.example.com", want: Request{Method: AccessSubdomain, Slug: "70000", AgentName: "main", WorkspaceName: "ws1", Username: "alice", BasePath: "/"}},
	}
	for _, tc := range tests {
		t.Run(tc.host, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSubdomain(tc.host, wc)
			switch {
			case tc.notApp:
				require.ErrorIs(t, err, ErrNotApp)
			case tc.wantErr != "":
				require.ErrorContains(t, err, tc.wantErr)
				require.NotErrorIs(t, err, ErrNotApp)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				// The inverse gives the same app back.
				again, err := ParseSubdomain(SubdomainHost(wc, got), wc)
				require.NoError(t, err)
				require.Equal(t, got, again)
			}
		})
	}
	_, err := ParseSubdomain("x.example.com", "apps.example.com")
	require.ErrorContains(t, err, "wildcard")
}

func TestParsePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path     string
		want     Request
		rest     string
		redirect bool
		notApp   bool
		wantErr  string
	}{
		{path: "/@alice/ws1/apps/code/", want: Request{Method: AccessPath, Username: "alice", WorkspaceName: "ws1", Slug: "code", BasePath: "/@alice/ws1/apps/code/"}, rest: "/"},
		{path: "/@alice/ws1.main/apps/code/static/x.js", want: Request{Method: AccessPath, Username: "alice", WorkspaceName: "ws1", AgentName: "main", Slug: "code", BasePath: "/@alice/ws1.main/apps/code/"}, rest: "/static/x.js"},
		{path: "/@alice/ws1/apps/code", want: Request{Method: AccessPath, Username: "alice", WorkspaceName: "ws1", Slug: "code", BasePath: "/@alice/ws1/apps/code/"}, rest: "/", redirect: true},
		{path: "/@alice/ws1/ports/8080/a", want: Request{Method: AccessPath, Username: "alice", WorkspaceName: "ws1", Port: 8080, BasePath: "/@alice/ws1/ports/8080/"}, rest: "/a"},
		{path: "/@alice/ws1/ports/0/", wantErr: "port"},
		{path: "/@alice/ws1/ports/99999/", wantErr: "port"},
		{path: "/@alice/ws1/ports/http/", wantErr: "port"},
		{path: "/@alice/ws1/apps/bad--slug/", wantErr: "app"},
		{path: "/@alice/ws1", notApp: true},
		{path: "/@alice/ws1/terminal", notApp: true},
		{path: "/workspaces", notApp: true},
		{path: "/@alice/ws1/files/x/", notApp: true},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			t.Parallel()
			got, rest, redirect, err := ParsePath(tc.path)
			switch {
			case tc.notApp:
				require.ErrorIs(t, err, ErrNotApp)
			case tc.wantErr != "":
				require.ErrorContains(t, err, tc.wantErr)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				require.Equal(t, tc.rest, rest)
				require.Equal(t, tc.redirect, redirect)
			}
		})
	}
}
