package site_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/testutil"
)

// TestWorkspacesPages: with more workspaces than a page holds, the list
// shows 100 at a time in owner-then-name order with previous/next links;
// the pages together hold every workspace once; the live refresh keeps
// its page; a bad page number is refused.
func TestWorkspacesPages(t *testing.T) {
	t.Parallel()
	client, srv := coderdtest.New(t, &coderdtest.Options{ProvisionerPSK: coderdtest.TestPSK, Logger: testutil.Logger(t)})
	first := coderdtest.CreateFirstUser(t, client)
	seedFleet(t, client, srv.DB, first, 2, 4, 230)
	d := &dashboard{URL: srv.URL, Client: client, Server: srv}
	b := d.browser(t)
	b.login("admin@example.com", coderdtest.FirstUserPassword)

	// has and hasNot report the missing text, not the whole page.
	has := func(body, want string, msg ...any) {
		t.Helper()
		require.True(t, strings.Contains(body, want), "the page lacks %q %v", want, msg)
	}
	hasNot := func(body, unwanted string, msg ...any) {
		t.Helper()
		require.False(t, strings.Contains(body, unwanted), "the page has %q %v", unwanted, msg)
	}
	rowRe := regexp.MustCompile(`<tr data-workspace="([^"]+)">`)
	rows := func(body string) []string {
		var out []string
		for _, m := range rowRe.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return out
	}
	var all []string
	for _, c := range []struct {
		query      string
		rows       int
		shown      string
		prev, next string
	}{
		{"/workspaces?filter=", 100, "1&ndash;100 of 230", "", "/workspaces?filter=&amp;page=2"},
		{"/workspaces?filter=&page=2", 100, "101&ndash;200 of 230", "/workspaces?filter=&amp;page=1", "/workspaces?filter=&amp;page=3"},
		{"/workspaces?filter=&page=3", 30, "201&ndash;230 of 230", "/workspaces?filter=&amp;page=2", ""},
	} {
		p := b.get(c.query)
		require.Equal(t, http.StatusOK, p.Status, c.query)
		got := rows(p.Body)
		require.Len(t, got, c.rows, c.query)
		has(p.Body, c.shown, c.query)
		for rel, href := range map[string]string{"prev": c.prev, "next": c.next} {
			if href == "" {
				hasNot(p.Body, `rel="`+rel+`"`, c.query)
				continue
			}
			has(p.Body, `rel="`+rel+`" href="`+href+`"`, c.query)
		}
		all = append(all, got...)
	}
	require.Len(t, all, 230)
	require.True(t, slices.IsSorted(all), "pages follow one another in owner/name order: %v", all)
	require.Len(t, slices.Compact(slices.Clone(all)), 230, "no workspace on two pages")

	// The live refresh of page 2 fetches page 2's rows.
	p := b.get("/workspaces?filter=&page=2")
	has(p.Body, `data-poll="/workspaces?partial=rows&amp;filter=&amp;page=2"`)
	partial := b.get("/workspaces?partial=rows&filter=&page=2")
	require.Equal(t, rows(p.Body), rows(partial.Body))

	// A filter narrows the count and keeps itself in the links.
	p = b.get("/workspaces?filter=owner:me")
	require.Equal(t, http.StatusOK, p.Status)
	require.Len(t, rows(p.Body), 58) // every fourth of 230, from the first
	hasNot(p.Body, `rel="next"`)
	p = b.get("/workspaces?filter=template:tmpl-000")
	has(p.Body, "1&ndash;100 of 115")
	has(p.Body, `href="/workspaces?filter=template%3Atmpl-000&amp;page=2"`)

	for _, bad := range []string{"0", "-1", "two"} {
		p := b.get("/workspaces?page=" + bad)
		require.Equal(t, http.StatusBadRequest, p.Status, bad)
		has(p.Body, "page must be a whole number", bad)
	}
}
