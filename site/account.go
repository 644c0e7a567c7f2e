package site

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/opencoder/coder/codersdk"
)

func (s *Site) accountRoutes(r chi.Router) {
	r.Get("/account", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
	})
	r.Get("/account/tokens", s.tokensPage)
	r.Post("/account/tokens", s.postToken)
	r.Post("/account/tokens/{id}/delete", s.postDeleteToken)
	r.Get("/account/ssh-key", s.sshKeyPage)
	r.Post("/account/ssh-key/regenerate", s.postRegenerateSSHKey)
}

type tokensData struct {
	Tokens []codersdk.APIKey
	// NewKey is shown once, right after it was created.
	NewKey   string
	Name     string
	Lifetime string
}

func (s *Site) tokensPage(w http.ResponseWriter, r *http.Request) {
	s.renderTokens(w, r, http.StatusOK, view{}, tokensData{Lifetime: "720h"})
}

func (s *Site) renderTokens(w http.ResponseWriter, r *http.Request, status int, v view, data tokensData) {
	tokens, err := s.client(currentUser(r.Context()).Token).Tokens(r.Context(), codersdk.Me)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	data.Tokens = tokens
	v.Title = "Tokens"
	v.Data = data
	s.render(w, r, status, "tokens", v)
}

func (s *Site) postToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	data := tokensData{Name: strings.TrimSpace(r.PostForm.Get("name")), Lifetime: strings.TrimSpace(r.PostForm.Get("lifetime"))}
	lifetime, err := time.ParseDuration(data.Lifetime)
	if err != nil || lifetime <= 0 {
		s.renderTokens(w, r, http.StatusBadRequest, view{FieldErrors: map[string]string{"lifetime": "Give a positive duration such as 24h or 720h."}}, data)
		return
	}
	res, err := s.client(currentUser(r.Context()).Token).CreateToken(r.Context(), codersdk.Me, codersdk.CreateTokenRequest{TokenName: data.Name, Lifetime: lifetime})
	if err != nil {
		msg, fields := fieldErrors(err)
		if f, ok := fields["token_name"]; ok {
			fields["name"] = f
		}
		status := http.StatusBadRequest
		var apiErr *codersdk.Error
		if asAPIError(err, &apiErr) {
			status = apiErr.StatusCode()
		}
		s.renderTokens(w, r, status, view{Error: msg, FieldErrors: fields}, data)
		return
	}
	s.renderTokens(w, r, http.StatusCreated, view{Flash: "Token " + data.Name + " created. Copy it now: it is not shown again."}, tokensData{NewKey: res.Key, Lifetime: "720h"})
}

func (s *Site) postDeleteToken(w http.ResponseWriter, r *http.Request) {
	if err := s.client(currentUser(r.Context()).Token).DeleteAPIKey(r.Context(), codersdk.Me, chi.URLParam(r, "id")); err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	http.Redirect(w, r, "/account/tokens", http.StatusSeeOther)
}
