package site

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/opencoder/coder/codersdk"
)

type adminProvisionersData struct {
	Tab  adminTab
	Orgs []orgProvisioners
	// NewKey is a key just created, shown once.
	NewKey     string
	NewKeyName string
}

// orgProvisioners is one organization's daemons and keys, with its key
// form's input.
type orgProvisioners struct {
	Org     codersdk.Organization
	Daemons []codersdk.ProvisionerDaemon
	Keys    []codersdk.ProvisionerKey
	// Form holds the create-key input for this organization, kept when
	// the API refuses it.
	Form        keyForm
	FieldErrors map[string]string
}

type keyForm struct {
	Name, Tags string
}

func (s *Site) adminProvisionersPage(w http.ResponseWriter, r *http.Request) {
	s.renderAdminProvisioners(w, r, http.StatusOK, view{}, adminProvisionersData{}, uuid.Nil, keyForm{}, nil)
}

// renderAdminProvisioners shows every organization of the caller; the
// organization formOrg gets form and fieldErrs on its key form.
func (s *Site) renderAdminProvisioners(w http.ResponseWriter, r *http.Request, status int, v view, data adminProvisionersData, formOrg uuid.UUID, form keyForm, fieldErrs map[string]string) {
	ctx := r.Context()
	c := s.client(currentUser(ctx).Token)
	orgs, err := c.OrganizationsByUser(ctx, codersdk.Me)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	data.Tab = "provisioners"
	for _, org := range orgs {
		daemons, err := c.ProvisionerDaemons(ctx, org.ID)
		if err != nil {
			s.renderAPIError(w, r, err)
			return
		}
		keys, err := c.ProvisionerKeys(ctx, org.ID)
		if err != nil {
			s.renderAPIError(w, r, err)
			return
		}
		op := orgProvisioners{Org: org, Daemons: daemons, Keys: keys}
		if org.ID == formOrg {
			op.Form, op.FieldErrors = form, fieldErrs
		}
		data.Orgs = append(data.Orgs, op)
	}
	v.Title = "Provisioners"
	v.Data = data
	s.render(w, r, status, "admin_provisioners", v)
}

// parseTags reads "key=value" pairs separated by spaces or commas.
func parseTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' }) {
		k, val, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not key=value", f)
		}
		tags[k] = val
	}
	return tags, nil
}

func orgParamID(r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(chi.URLParam(r, "org"))
	return id, err == nil
}

func (s *Site) postAdminProvisionerKey(w http.ResponseWriter, r *http.Request) {
	org, ok := orgParamID(r)
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is no such organization, or you cannot see it.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	form := keyForm{Name: strings.TrimSpace(r.PostForm.Get("name")), Tags: strings.TrimSpace(r.PostForm.Get("tags"))}
	tags, err := parseTags(form.Tags)
	if err != nil {
		s.renderAdminProvisioners(w, r, http.StatusBadRequest, view{}, adminProvisionersData{}, org, form,
			map[string]string{"tags": "Give tags as key=value pairs separated by spaces: " + err.Error() + "."})
		return
	}
	res, err := s.client(currentUser(r.Context()).Token).CreateProvisionerKey(r.Context(), org, codersdk.CreateProvisionerKeyRequest{Name: form.Name, Tags: tags})
	if err != nil {
		if isAPIRefusal(err) || apiStatus(err, 0) == 0 {
			s.renderAPIError(w, r, err)
			return
		}
		msg, fields := fieldErrors(err)
		for k, f := range fields {
			if strings.HasPrefix(k, "tags.") {
				fields["tags"] = strings.TrimPrefix(k, "tags.") + ": " + f
			}
		}
		s.renderAdminProvisioners(w, r, apiStatus(err, http.StatusBadRequest), view{Error: msg}, adminProvisionersData{}, org, form, fields)
		return
	}
	s.renderAdminProvisioners(w, r, http.StatusCreated, view{Flash: "Provisioner key " + form.Name + " created. Copy it now: it is not shown again."},
		adminProvisionersData{NewKey: res.Key, NewKeyName: form.Name}, uuid.Nil, keyForm{}, nil)
}

func (s *Site) postAdminDeleteProvisionerKey(w http.ResponseWriter, r *http.Request) {
	org, ok := orgParamID(r)
	if !ok {
		s.renderError(w, r, http.StatusNotFound, "Not found", "There is no such organization, or you cannot see it.")
		return
	}
	if err := s.client(currentUser(r.Context()).Token).DeleteProvisionerKey(r.Context(), org, chi.URLParam(r, "name")); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/provisioners", http.StatusSeeOther)
}
