package site

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

func (s *Site) workspaceRoutes(r chi.Router) {
	r.Get("/workspaces", s.workspacesPage)
	r.Post("/workspaces/{id}/action", s.postWorkspaceAction)
	r.Get("/@{user}/{workspace}", s.workspacePage)
	r.Get("/@{user}/{workspace}/terminal", s.terminalPage)
}

// workspacesPerPage is how many rows the workspace list shows at once: a
// deployment with a thousand workspaces gets a page in tens of
// milliseconds, not one long table (the API converts only the rows asked
// for).
const workspacesPerPage = 100

type workspacesData struct {
	Filter     string
	Workspaces []codersdk.Workspace
	// Page (from 1) of Pages; Count matches in all, First..Last shown.
	Page, Pages, Count, First, Last int
}

// Prev and Next are the neighbouring page numbers.
func (d workspacesData) Prev() int { return d.Page - 1 }
func (d workspacesData) Next() int { return d.Page + 1 }

// PageURL links to page n of the same filter.
func (d workspacesData) PageURL(n int) string {
	return "/workspaces?filter=" + url.QueryEscape(d.Filter) + "&page=" + strconv.Itoa(n)
}

// parseWorkspaceFilter reads the search box: "owner:me status:running
// template:docker name:ws1". Unknown keys and bare words are errors the
// page shows, not silently dropped filters.
func parseWorkspaceFilter(q string) (f codersdk.WorkspaceFilter, problem string) {
	for _, term := range strings.Fields(q) {
		key, val, ok := strings.Cut(term, ":")
		if !ok || val == "" {
			// A bare word searches names, as people expect of a box.
			if !ok {
				f.Name = term
				continue
			}
			return f, "filter " + term + " has no value"
		}
		switch key {
		case "owner":
			f.Owner = val
		case "template":
			f.Template = val
		case "name":
			f.Name = val
		case "status":
			f.Status = codersdk.WorkspaceStatus(val)
		default:
			return f, "unknown filter " + key + ": use owner:, status:, template: or name:"
		}
	}
	return f, ""
}

func (s *Site) workspacesPage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	q, present := r.URL.Query()["filter"]
	filter := "owner:me"
	if present {
		filter = strings.TrimSpace(strings.Join(q, " "))
	}
	f, problem := parseWorkspaceFilter(filter)
	data := workspacesData{Filter: filter, Page: 1}
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1<<20 {
			s.renderError(w, r, http.StatusBadRequest, "Bad request", "page must be a whole number from 1, not "+quote(p)+".")
			return
		}
		data.Page = n
	}
	f.Limit, f.Offset = workspacesPerPage, (data.Page-1)*workspacesPerPage
	if problem != "" {
		s.render(w, r, http.StatusBadRequest, "workspaces", view{Title: "Workspaces", FieldErrors: map[string]string{"filter": problem}, Data: data})
		return
	}
	res, err := s.client(u.Token).Workspaces(r.Context(), f)
	if err != nil {
		if msg, fields := fieldErrors(err); codersdk.IsStatus(err, http.StatusBadRequest) {
			s.render(w, r, http.StatusBadRequest, "workspaces", view{Title: "Workspaces", Error: msg, FieldErrors: fields, Data: data})
			return
		}
		s.renderAPIError(w, r, err)
		return
	}
	data.Workspaces, data.Count = res.Workspaces, res.Count
	data.Pages = max(1, (res.Count+workspacesPerPage-1)/workspacesPerPage)
	if len(res.Workspaces) > 0 {
		data.First = f.Offset + 1
		data.Last = f.Offset + len(res.Workspaces)
	}
	sort.SliceStable(data.Workspaces, func(i, j int) bool {
		a, b := data.Workspaces[i], data.Workspaces[j]
		if a.OwnerName != b.OwnerName {
			return a.OwnerName < b.OwnerName
		}
		return a.Name < b.Name
	})
	page := "workspaces"
	if r.URL.Query().Get("partial") == "rows" {
		page = "workspaces#workspace_rows"
	}
	s.render(w, r, http.StatusOK, page, view{Title: "Workspaces", Data: data})
}

// postWorkspaceAction queues a start, stop, restart (stop then start is
// the API's job: a start of a running workspace restarts it), delete or
// update (start on the template's active version).
func (s *Site) postWorkspaceAction(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		s.renderError(w, r, http.StatusNotFound, "Not found", "No such workspace.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	c := s.client(u.Token)
	ws, err := c.Workspace(r.Context(), id)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	req := codersdk.CreateWorkspaceBuildRequest{Reason: codersdk.BuildReasonDashboard}
	switch action := r.PostForm.Get("action"); action {
	case "start", "restart":
		req.Transition = codersdk.WorkspaceTransitionStart
	case "stop":
		req.Transition = codersdk.WorkspaceTransitionStop
	case "delete":
		req.Transition = codersdk.WorkspaceTransitionDelete
	case "update":
		req.Transition = codersdk.WorkspaceTransitionStart
		req.TemplateVersionID = ws.TemplateActiveVersionID
	default:
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "action must be start, stop, restart, delete or update, not "+quote(action)+".")
		return
	}
	if r.PostForm.Get("action") == "restart" && ws.LatestBuild.Status == codersdk.WorkspaceStatusRunning {
		if err := s.stopAndWait(r.Context(), c, id); err != nil {
			s.renderAPIError(w, r, err)
			return
		}
	}
	if _, err := c.CreateWorkspaceBuild(r.Context(), id, req); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	http.Redirect(w, r, safeRedirect(r.PostForm.Get("redirect"), "/@"+ws.OwnerName+"/"+ws.Name), http.StatusSeeOther)
}

// restartStopTimeout bounds how long a restart waits for its stop build.
const restartStopTimeout = 5 * time.Minute

// stopAndWait queues a stop and waits for it to finish, because the API
// runs one build of a workspace at a time and refuses a start meanwhile.
func (s *Site) stopAndWait(ctx context.Context, c *codersdk.Client, id uuid.UUID) error {
	ctx, cancel := context.WithTimeout(ctx, restartStopTimeout)
	defer cancel()
	b, err := c.CreateWorkspaceBuild(ctx, id, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop, Reason: codersdk.BuildReasonDashboard})
	if err != nil {
		return err
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		b, err = c.WorkspaceBuild(ctx, b.ID)
		if err != nil {
			return err
		}
		switch b.Job.Status {
		case codersdk.ProvisionerJobSucceeded:
			return nil
		case codersdk.ProvisionerJobFailed, codersdk.ProvisionerJobCanceled:
			return fmt.Errorf("restart: the stop build #%d %s: %s", b.BuildNumber, b.Job.Status, b.Job.Error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart: waiting for the stop build: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return `"` + s + `"`
}
