package site

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

// The starter flow creates a deployment's first templates from the ones
// shipped in the binary, so a new user never needs the CLI: pick a starter,
// watch its import, name the template. Each step is the API's: creating a
// version from example_id, following its import log, creating the template.

func (s *Site) starterRoutes(r chi.Router) {
	// One path (an organization may be called "new"; its templates live
	// one level deeper, at /templates/new/NAME): ?version= selects the
	// import step, the form field "step" the POST.
	r.Get("/templates/new", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("version") {
			s.starterImportPage(w, r)
			return
		}
		s.startersPage(w, r)
	})
	r.Post("/templates/new", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
			return
		}
		if r.PostForm.Get("step") == "template" {
			s.postStarterTemplate(w, r)
			return
		}
		s.postStarter(w, r)
	})
}

type startersData struct {
	Examples []codersdk.TemplateExample
	Orgs     []codersdk.Organization
	// Form values kept after an error.
	Example string
	Name    string
	Org     string
}

func (s *Site) startersPage(w http.ResponseWriter, r *http.Request) {
	s.renderStarters(w, r, http.StatusOK, view{}, startersData{})
}

func (s *Site) renderStarters(w http.ResponseWriter, r *http.Request, status int, v view, data startersData) {
	c := s.client(currentUser(r.Context()).Token)
	var err error
	if data.Examples, err = c.TemplateExamples(r.Context()); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	if data.Orgs, err = c.OrganizationsByUser(r.Context(), codersdk.Me); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	v.Title = "New template"
	v.Data = data
	s.render(w, r, status, "starters", v)
}

func (s *Site) postStarter(w http.ResponseWriter, r *http.Request) {
	data := startersData{
		Example: strings.TrimSpace(r.PostForm.Get("example")),
		Name:    strings.TrimSpace(r.PostForm.Get("name")),
		Org:     strings.TrimSpace(r.PostForm.Get("organization")),
	}
	fail := func(status int, field, msg string) {
		s.renderStarters(w, r, status, view{Error: "The template was not created; see the field below.", FieldErrors: map[string]string{data.Example + "." + field: msg}}, data)
	}
	if err := codersdk.ValidateName(data.Name); err != nil {
		fail(http.StatusBadRequest, "name", err.Error())
		return
	}
	c := s.client(currentUser(r.Context()).Token)
	org, err := c.Organization(r.Context(), data.Org)
	if err != nil {
		if codersdk.IsStatus(err, http.StatusNotFound) {
			fail(http.StatusBadRequest, "organization", "no organization "+data.Org+" that you belong to")
			return
		}
		s.renderAPIError(w, r, err)
		return
	}
	// Checked now so the user learns it before waiting for an import.
	if _, err := c.TemplateByName(r.Context(), org.ID, data.Name); err == nil {
		fail(http.StatusConflict, "name", "a template named "+data.Name+" already exists in "+org.Name)
		return
	} else if !codersdk.IsStatus(err, http.StatusNotFound) {
		s.renderAPIError(w, r, err)
		return
	}
	v, err := c.CreateTemplateVersion(r.Context(), org.ID, codersdk.CreateTemplateVersionRequest{ExampleID: data.Example})
	if err != nil {
		msg, fields := fieldErrors(err)
		if d, ok := fields["example_id"]; ok {
			// No card to show it by: the form was not one of this page's.
			s.renderStarters(w, r, http.StatusBadRequest, view{Error: "Starter template: " + d}, data)
			return
		}
		var apiErr *codersdk.Error
		if asAPIError(err, &apiErr) && apiErr.StatusCode() < 500 {
			s.renderStarters(w, r, apiErr.StatusCode(), view{Error: msg}, data)
			return
		}
		s.renderAPIError(w, r, err)
		return
	}
	http.Redirect(w, r, "/templates/new?version="+v.ID.String()+"&name="+url.QueryEscape(data.Name), http.StatusSeeOther)
}

type starterImportData struct {
	Version codersdk.TemplateVersion
	Org     codersdk.Organization
	Name    string
	Logs    []codersdk.ProvisionerJobLog
	LastLog int64
}

// loadStarterImport reads the version in {version} through the API (a
// version the caller cannot read is the API's 404) and its log so far.
func (s *Site) loadStarterImport(r *http.Request, id uuid.UUID) (starterImportData, error) {
	c := s.client(currentUser(r.Context()).Token)
	data := starterImportData{Name: strings.TrimSpace(r.FormValue("name"))}
	var err error
	if data.Version, err = c.TemplateVersion(r.Context(), id); err != nil {
		return data, err
	}
	if data.Org, err = c.Organization(r.Context(), data.Version.OrganizationID.String()); err != nil {
		return data, err
	}
	logs, _, err := c.TemplateVersionLogsAfter(r.Context(), id, 0, false)
	if err != nil {
		return data, err
	}
	for l := range logs {
		data.Logs = append(data.Logs, l)
		data.LastLog = l.ID
	}
	return data, nil
}

// versionParam parses the version being imported, answering 404 for what
// is not an ID.
func (s *Site) versionParam(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.FormValue("version"))
	if err != nil {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is no template version "+r.FormValue("version")+".")
		return uuid.Nil, false
	}
	return id, true
}

func (s *Site) starterImportPage(w http.ResponseWriter, r *http.Request) {
	id, ok := s.versionParam(w, r)
	if !ok {
		return
	}
	data, err := s.loadStarterImport(r, id)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	page := "starter"
	if r.URL.Query().Get("partial") == "status" {
		page = "starter#starter_status"
	}
	s.render(w, r, http.StatusOK, page, view{Title: "Importing " + data.Name, Data: data})
}

func (s *Site) postStarterTemplate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.versionParam(w, r)
	if !ok {
		return
	}
	data, err := s.loadStarterImport(r, id)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	c := s.client(currentUser(r.Context()).Token)
	t, err := c.CreateTemplate(r.Context(), data.Version.OrganizationID, codersdk.CreateTemplateRequest{Name: data.Name, VersionID: data.Version.ID})
	if err != nil {
		msg, fields := fieldErrors(err)
		if d, ok := fields["template_version_id"]; ok {
			fields["version"] = d
		}
		status := http.StatusBadRequest
		var apiErr *codersdk.Error
		if asAPIError(err, &apiErr) {
			status = apiErr.StatusCode()
		}
		s.render(w, r, status, "starter", view{Title: "Importing " + data.Name, Error: msg, FieldErrors: fields, Data: data})
		return
	}
	http.Redirect(w, r, "/templates/"+url.PathEscape(t.OrganizationName)+"/"+url.PathEscape(t.Name), http.StatusSeeOther)
}
