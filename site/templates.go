package site

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

func (s *Site) templateRoutes(r chi.Router) {
	r.Get("/templates", s.templatesPage)
	r.Get("/templates/{org}/{template}", s.templatePage)
	r.Get("/templates/{org}/{template}/workspace", s.createWorkspacePage)
	r.Post("/templates/{org}/{template}/workspace", s.postCreateWorkspace)
}

type templatesData struct {
	Templates []codersdk.Template
}

func (s *Site) templatesPage(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	c := s.client(u.Token)
	orgs, err := c.OrganizationsByUser(r.Context(), codersdk.Me)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	var data templatesData
	for _, o := range orgs {
		ts, err := c.Templates(r.Context(), o.ID)
		if err != nil {
			s.renderAPIError(w, r, err)
			return
		}
		data.Templates = append(data.Templates, ts...)
	}
	sort.Slice(data.Templates, func(i, j int) bool {
		a, b := data.Templates[i], data.Templates[j]
		if a.OrganizationName != b.OrganizationName {
			return a.OrganizationName < b.OrganizationName
		}
		return a.Name < b.Name
	})
	s.render(w, r, http.StatusOK, "templates", view{Title: "Templates", Data: data})
}

// loadTemplate resolves {org}/{template} through the API: a template the
// caller cannot read is a 404 here exactly as it is there.
func (s *Site) loadTemplate(r *http.Request, c *codersdk.Client) (codersdk.Template, error) {
	org, err := c.Organization(r.Context(), chi.URLParam(r, "org"))
	if err != nil {
		return codersdk.Template{}, err
	}
	return c.TemplateByName(r.Context(), org.ID, chi.URLParam(r, "template"))
}

type templateData struct {
	Template  codersdk.Template
	Versions  []codersdk.TemplateVersion
	Active    codersdk.TemplateVersion
	Resources []codersdk.WorkspaceResource
	// Variables are the active version's Terraform variables as the API
	// gives them to this user (sensitive values never); none when it
	// refuses them.
	Variables []variableRow
}

// variableRow is one template variable as the page shows it: Shown is its
// value, "(sensitive)" for a sensitive one, else its default (Default
// true) when it was given none.
type variableRow struct {
	codersdk.TemplateVersionVariable
	Shown   string
	Default bool
}

func variableRows(vars []codersdk.TemplateVersionVariable) []variableRow {
	rows := make([]variableRow, 0, len(vars))
	for _, v := range vars {
		row := variableRow{TemplateVersionVariable: v, Shown: v.Value}
		switch {
		case v.Sensitive:
			row.Shown = "(sensitive)"
		case v.Value == "":
			row.Shown, row.Default = v.DefaultValue, true
		}
		rows = append(rows, row)
	}
	return rows
}

func (s *Site) templatePage(w http.ResponseWriter, r *http.Request) {
	c := s.client(currentUser(r.Context()).Token)
	t, err := s.loadTemplate(r, c)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	data := templateData{Template: t}
	if data.Versions, err = c.TemplateVersionsByTemplate(r.Context(), t.ID); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	if data.Active, err = c.TemplateVersion(r.Context(), t.ActiveVersionID); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	if data.Resources, err = c.TemplateVersionResources(r.Context(), t.ActiveVersionID); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	// Whoever the API refuses the variables sees the page without them.
	vars, err := c.TemplateVersionVariables(r.Context(), t.ActiveVersionID)
	switch {
	case codersdk.IsStatus(err, http.StatusForbidden), codersdk.IsStatus(err, http.StatusNotFound):
	case err != nil:
		s.renderAPIError(w, r, err)
		return
	default:
		data.Variables = variableRows(vars)
	}
	s.render(w, r, http.StatusOK, "template", view{Title: t.Name, Data: data})
}

// paramField is one coder_parameter as the create form renders it.
type paramField struct {
	codersdk.TemplateVersionParameter
	// Widget is the input to draw: input, number, textarea, select, radio,
	// multi, bool.
	Widget string
	// Value is what the field shows: the user's input after an error,
	// else the default. Values holds the chosen items of a multi-select.
	Value  string
	Values []string
}

type createData struct {
	Template codersdk.Template
	Name     string
	Params   []paramField
	// Presets are the version's; Preset is the one whose values fill the
	// form ("" for none): ?preset=NAME, else the default preset.
	Presets []codersdk.Preset
	Preset  string
}

func widgetFor(p codersdk.TemplateVersionParameter) string {
	switch {
	case p.Type == "list(string)" && len(p.Options) > 0:
		return "multi"
	case p.Type == "list(string)":
		return "list"
	case p.Type == "bool":
		return "bool"
	case p.FormType == "radio" && len(p.Options) > 0:
		return "radio"
	case len(p.Options) > 0:
		return "select"
	case p.FormType == "textarea":
		return "textarea"
	case p.Type == "number":
		return "number"
	default:
		return "input"
	}
}

func (s *Site) createForm(r *http.Request, c *codersdk.Client) (createData, error) {
	t, err := s.loadTemplate(r, c)
	if err != nil {
		return createData{}, err
	}
	defs, err := c.TemplateVersionRichParameters(r.Context(), t.ActiveVersionID)
	if err != nil {
		return createData{}, err
	}
	sort.SliceStable(defs, func(i, j int) bool {
		if defs[i].Order != defs[j].Order {
			return defs[i].Order < defs[j].Order
		}
		return defs[i].Name < defs[j].Name
	})
	data := createData{Template: t}
	if data.Presets, err = c.TemplateVersionPresets(r.Context(), t.ActiveVersionID); err != nil {
		return createData{}, err
	}
	presetValues := map[string]string{}
	choice, chosen := r.URL.Query().Get("preset"), r.URL.Query().Has("preset")
	for _, p := range data.Presets {
		if (chosen && p.Name == choice) || (!chosen && p.Default) {
			data.Preset = p.Name
			for _, v := range p.Parameters {
				presetValues[v.Name] = v.Value
			}
		}
	}
	for _, d := range defs {
		if v, ok := presetValues[d.Name]; ok {
			d.DefaultValue = v // the preset's value is what the form starts from
		}
		f := paramField{TemplateVersionParameter: d, Widget: widgetFor(d), Value: d.DefaultValue}
		if f.Widget == "multi" || f.Widget == "list" {
			_ = json.Unmarshal([]byte(d.DefaultValue), &f.Values)
			f.Value = strings.Join(f.Values, "\n")
		}
		data.Params = append(data.Params, f)
	}
	return data, nil
}

func (s *Site) createWorkspacePage(w http.ResponseWriter, r *http.Request) {
	c := s.client(currentUser(r.Context()).Token)
	data, err := s.createForm(r, c)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "create", view{Title: "New workspace from " + data.Template.Name, Data: data})
}

// paramFieldRe pulls the parameter name out of the API's field path
// "rich_parameter_values[2](region)".
var paramFieldRe = regexp.MustCompile(`^rich_parameter_values(?:\[\d+\])?\((.+)\)$`)

func (s *Site) postCreateWorkspace(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r.Context())
	c := s.client(u.Token)
	data, err := s.createForm(r, c)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	data.Name = strings.TrimSpace(r.PostForm.Get("name"))
	fields := map[string]string{}
	req := codersdk.CreateWorkspaceRequest{TemplateID: data.Template.ID, Name: data.Name}
	for i := range data.Params {
		p := &data.Params[i]
		key := "param." + p.Name
		switch p.Widget {
		case "multi":
			p.Values = r.PostForm[key]
			if p.Values == nil {
				p.Values = []string{}
			}
			b, _ := json.Marshal(p.Values)
			p.Value = string(b)
		case "list":
			p.Values = []string{}
			for _, line := range strings.Split(r.PostForm.Get(key), "\n") {
				if line = strings.TrimSpace(line); line != "" {
					p.Values = append(p.Values, line)
				}
			}
			b, _ := json.Marshal(p.Values)
			p.Value = string(b)
		default:
			p.Value = r.PostForm.Get(key)
		}
		if _, sent := r.PostForm[key]; !sent && p.Widget != "multi" && p.Widget != "list" {
			continue // not given: the API uses the default or reports it required
		}
		if err := codersdk.ValidateParameterValue(p.TemplateVersionParameter, p.Value); err != nil {
			fields[key] = err.Error()
			continue
		}
		req.RichParameterValues = append(req.RichParameterValues, codersdk.WorkspaceBuildParameter{Name: p.Name, Value: p.Value})
	}
	// Multi-line list inputs show one item per line again after an error.
	for i := range data.Params {
		if data.Params[i].Widget == "list" {
			data.Params[i].Value = strings.Join(data.Params[i].Values, "\n")
		}
	}
	title := "New workspace from " + data.Template.Name
	if len(fields) > 0 {
		s.render(w, r, http.StatusBadRequest, "create", view{Title: title, Error: "Some values are not valid; see the fields below.", FieldErrors: fields, Data: data})
		return
	}
	ws, err := c.CreateUserWorkspace(r.Context(), codersdk.Me, req)
	if err != nil {
		msg, apiFields := fieldErrors(err)
		for f, detail := range apiFields {
			if m := paramFieldRe.FindStringSubmatch(f); m != nil {
				fields["param."+m[1]] = detail
			} else {
				fields[f] = detail
			}
		}
		status := http.StatusBadRequest
		var apiErr *codersdk.Error
		if ok := asAPIError(err, &apiErr); ok {
			status = apiErr.StatusCode()
		}
		s.render(w, r, status, "create", view{Title: title, Error: msg, FieldErrors: fields, Data: data})
		return
	}
	http.Redirect(w, r, "/@"+ws.OwnerName+"/"+ws.Name, http.StatusSeeOther)
}
