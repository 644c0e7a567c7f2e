package site

import (
	"net/http"
	"strings"
	"time"

	"github.com/opencoder/coder/codersdk"
)

// sessionLifetime matches the API's session tokens; the browser drops the
// cookie when the token would have expired anyway.
const sessionLifetime = 24 * time.Hour

type loginForm struct {
	Email    string
	Redirect string
}

func (s *Site) loginPage(w http.ResponseWriter, r *http.Request) {
	ctx := withRemoteAddr(r.Context(), r.RemoteAddr)
	if has, err := s.client("").HasFirstUser(ctx); err == nil && !has {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", view{Title: "Sign in", Data: loginForm{Redirect: safeRedirect(r.URL.Query().Get("redirect"), "")}})
}

func (s *Site) postLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	form := loginForm{Email: strings.TrimSpace(r.PostForm.Get("email")), Redirect: safeRedirect(r.PostForm.Get("redirect"), "")}
	password := r.PostForm.Get("password")
	fields := map[string]string{}
	if form.Email == "" {
		fields["email"] = "Enter your email address."
	}
	if password == "" {
		fields["password"] = "Enter your password."
	}
	if len(fields) > 0 {
		s.render(w, r, http.StatusBadRequest, "login", view{Title: "Sign in", FieldErrors: fields, Data: form})
		return
	}
	ctx := withRemoteAddr(r.Context(), r.RemoteAddr)
	res, err := s.client("").LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: form.Email, Password: password})
	if err != nil {
		status := http.StatusBadRequest
		var msg string
		switch {
		case codersdk.IsStatus(err, http.StatusUnauthorized):
			status, msg = http.StatusUnauthorized, "Incorrect email or password."
		case codersdk.IsStatus(err, http.StatusTooManyRequests):
			status, msg = http.StatusTooManyRequests, "Too many sign-in attempts; wait a minute and try again."
		default:
			var f map[string]string
			msg, f = fieldErrors(err)
			fields = f
		}
		s.render(w, r, status, "login", view{Title: "Sign in", Error: msg, FieldErrors: fields, Data: form})
		return
	}
	s.setSession(w, res.SessionToken)
	http.Redirect(w, r, safeRedirect(form.Redirect, "/workspaces"), http.StatusSeeOther)
}

type setupForm struct {
	Email, Username, Name string
}

func (s *Site) setupPage(w http.ResponseWriter, r *http.Request) {
	ctx := withRemoteAddr(r.Context(), r.RemoteAddr)
	has, err := s.client("").HasFirstUser(ctx)
	if err != nil {
		s.renderAPIError(w, r, err)
		return
	}
	if has {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "setup", view{Title: "Create the first user", Data: setupForm{}})
}

func (s *Site) postSetup(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	form := setupForm{
		Email:    strings.TrimSpace(r.PostForm.Get("email")),
		Username: strings.TrimSpace(r.PostForm.Get("username")),
		Name:     strings.TrimSpace(r.PostForm.Get("name")),
	}
	password := r.PostForm.Get("password")
	if password != r.PostForm.Get("password_confirm") {
		s.render(w, r, http.StatusBadRequest, "setup", view{Title: "Create the first user", FieldErrors: map[string]string{"password_confirm": "The two passwords differ."}, Data: form})
		return
	}
	ctx := withRemoteAddr(r.Context(), r.RemoteAddr)
	anon := s.client("")
	_, err := anon.CreateFirstUser(ctx, codersdk.CreateFirstUserRequest{Email: form.Email, Username: form.Username, Name: form.Name, Password: password})
	if err != nil {
		if codersdk.IsStatus(err, http.StatusConflict) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		msg, fields := fieldErrors(err)
		s.render(w, r, http.StatusBadRequest, "setup", view{Title: "Create the first user", Error: msg, FieldErrors: fields, Data: form})
		return
	}
	res, err := anon.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{Email: form.Email, Password: password})
	if err != nil {
		// The user exists; only the automatic sign-in failed.
		s.opts.Logger.Warn("site: sign in after setup", "error", err)
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.setSession(w, res.SessionToken)
	http.Redirect(w, r, "/templates", http.StatusSeeOther)
}

func (s *Site) postLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(codersdk.SessionTokenCookie); err == nil && c.Value != "" {
		ctx := withRemoteAddr(r.Context(), r.RemoteAddr)
		if err := s.client(c.Value).Logout(ctx); err != nil && !codersdk.IsStatus(err, http.StatusUnauthorized) {
			s.opts.Logger.Warn("site: logout", "error", err)
		}
	}
	s.clearSession(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// setSession stores the token in the browser: HttpOnly (scripts never see
// it), SameSite=Lax (other sites cannot send it with their forms), Secure
// when the deployment is served over HTTPS.
func (s *Site) setSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name:     codersdk.SessionTokenCookie,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   s.opts.SecureCookies,
		MaxAge:   int(sessionLifetime.Seconds()),
	})
}

func (s *Site) clearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: codersdk.SessionTokenCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.opts.SecureCookies,
	})
}
