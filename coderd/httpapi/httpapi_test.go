package httpapi_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

type sample struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
	Inner struct {
		On bool `json:"on"`
	} `json:"inner"`
}

func decodeResponse(t *testing.T, w *httptest.ResponseRecorder) codersdk.Response {
	t.Helper()
	require.Equal(t, "application/json; charset=utf-8", w.Header().Get("Content-Type"))
	var r codersdk.Response
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &r), "body: %s", w.Body)
	require.NotEmpty(t, r.Message)
	return r
}

func TestRead(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		contentType string
		body        string
		wantOK      bool
		wantStatus  int
		wantField   string // a validation must name it; "" = none expected
		wantMessage string // substring of the message
	}{
		{name: "valid", contentType: "application/json", body: `{"name":"a","count":2,"tags":["x"],"inner":{"on":true}}`, wantOK: true},
		{name: "charset parameter", contentType: "application/json; charset=utf-8", body: `{"name":"a"}`, wantOK: true},
		{name: "no content type", body: `{"name":"a"}`, wantOK: true},
		{name: "curl form default accepted as JSON", contentType: "application/x-www-form-urlencoded", body: `{"name":"a"}`, wantOK: true},
		{name: "text/plain accepted", contentType: "text/plain", body: `{"name":"a"}`, wantOK: true},
		{name: "trailing whitespace", contentType: "application/json", body: "{\"name\":\"a\"}\n\t ", wantOK: true},
		{name: "null is an empty object", body: `null`, wantOK: true},
		{name: "xml refused", contentType: "application/xml", body: `<a/>`, wantStatus: 415, wantMessage: "must be JSON"},
		{name: "bad content type", contentType: ";;;", body: `{}`, wantStatus: 415},
		{name: "empty", body: ``, wantStatus: 400, wantMessage: "empty"},
		{name: "malformed", body: `{"name": `, wantStatus: 400, wantMessage: "not valid JSON"},
		{name: "syntax error", body: `{"name" "a"}`, wantStatus: 400, wantMessage: "not valid JSON"},
		{name: "string for int", body: `{"count":"2"}`, wantStatus: 400, wantField: "count"},
		{name: "number for string", body: `{"name":5}`, wantStatus: 400, wantField: "name"},
		{name: "float for int", body: `{"count":1.5}`, wantStatus: 400, wantField: "count"},
		{name: "int overflow", body: `{"count":1e400}`, wantStatus: 400},
		{name: "nested wrong type", body: `{"inner":{"on":"yes"}}`, wantStatus: 400, wantField: "inner.on"},
		{name: "array element wrong type", body: `{"tags":[1]}`, wantStatus: 400, wantField: "tags"},
		{name: "array for object", body: `[1,2]`, wantStatus: 400, wantMessage: "JSON object"},
		{name: "string for object", body: `"hello"`, wantStatus: 400, wantMessage: "JSON object"},
		{name: "unknown field", body: `{"name":"a","admin":true}`, wantStatus: 400, wantField: "admin"},
		{name: "trailing object", body: `{"name":"a"}{"name":"b"}`, wantStatus: 400, wantMessage: "single JSON object"},
		{name: "trailing garbage", body: `{"name":"a"} x`, wantStatus: 400},
		{name: "exactly the limit", body: padTo(`{"name":"`, `"}`, httpapi.MaxBodyBytes), wantOK: true},
		{name: "one byte over the limit", body: padTo(`{"name":"`, `"}`, httpapi.MaxBodyBytes+1), wantStatus: 413, wantMessage: "too large"},
		{name: "far over the limit", body: padTo(`{"name":"`, `"}`, 8*httpapi.MaxBodyBytes), wantStatus: 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			w := httptest.NewRecorder()
			var v sample
			ok := httpapi.Read(w, r, &v)
			require.Equal(t, c.wantOK, ok)
			if c.wantOK {
				require.Equal(t, 200, w.Code, "Read must not write on success")
				require.Zero(t, w.Body.Len())
				return
			}
			require.Equal(t, c.wantStatus, w.Code)
			resp := decodeResponse(t, w)
			if c.wantMessage != "" {
				require.Contains(t, resp.Message, c.wantMessage)
			}
			if c.wantField == "" {
				return
			}
			var fields []string
			for _, v := range resp.Validations {
				fields = append(fields, v.Field)
				require.NotEmpty(t, v.Detail)
			}
			require.Contains(t, fields, c.wantField)
		})
	}
}

// padTo returns prefix + 'a'... + suffix, exactly n bytes long.
func padTo(prefix, suffix string, n int) string {
	return prefix + strings.Repeat("a", n-len(prefix)-len(suffix)) + suffix
}

func TestWriteHelpers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		write      func(w http.ResponseWriter)
		wantStatus int
		want       codersdk.Response
	}{
		{"error with detail", func(w http.ResponseWriter) { httpapi.Error(w, 409, "Taken.", "Pick", "another.") }, 409,
			codersdk.Response{Message: "Taken.", Detail: "Pick another."}},
		{"validation", func(w http.ResponseWriter) {
			httpapi.Validation(w, "Bad.", []codersdk.ValidationError{{Field: "f", Detail: "d"}})
		}, 400, codersdk.Response{Message: "Bad.", Validations: []codersdk.ValidationError{{Field: "f", Detail: "d"}}}},
		{"not found", httpapi.ResourceNotFound, 404, codersdk.Response{Message: "Resource not found or you do not have access to this resource."}},
		{"forbidden", httpapi.Forbidden, 403, codersdk.Response{Message: "Forbidden.", Detail: "You do not have permission to perform this action."}},
		{"internal hides the cause", func(w http.ResponseWriter) {
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			httpapi.InternalError(w, r, slog.New(slog.DiscardHandler), "do thing", errors.New("password=hunter2"))
		}, 500, codersdk.Response{Message: "Internal error: do thing.", Detail: "The server logged the details."}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			c.write(w)
			require.Equal(t, c.wantStatus, w.Code)
			require.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			require.Equal(t, c.want, decodeResponse(t, w))
			require.NotContains(t, w.Body.String(), "hunter2")
		})
	}
}

func TestWriteEscapesHTML(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	httpapi.Write(w, 200, map[string]string{"x": "<script>"})
	require.NotContains(t, w.Body.String(), "<script>")
}

func TestValidator(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		check func(v *httpapi.Validator)
		// wantDetail is a substring of the one error expected; "" = valid.
		wantDetail string
	}{
		{"username ok", func(v *httpapi.Validator) { v.Username("u", "alice-2") }, ""},
		{"username 32", func(v *httpapi.Validator) { v.Username("u", strings.Repeat("a", 32)) }, ""},
		{"username 33", func(v *httpapi.Validator) { v.Username("u", strings.Repeat("a", 33)) }, "at most 32"},
		{"username empty", func(v *httpapi.Validator) { v.Username("u", "") }, "required"},
		{"username leading hyphen", func(v *httpapi.Validator) { v.Username("u", "-a") }, "hyphens"},
		{"username double hyphen", func(v *httpapi.Validator) { v.Username("u", "a--b") }, "hyphens"},
		{"username unicode", func(v *httpapi.Validator) { v.Username("u", "jürgen") }, "letters"},
		{"username sql", func(v *httpapi.Validator) { v.Username("u", "'; DROP TABLE users;--") }, "letters"},
		{"username space", func(v *httpapi.Validator) { v.Username("u", "a b") }, "letters"},
		{"email ok", func(v *httpapi.Validator) { v.Email("e", "a@example.com") }, ""},
		{"email empty", func(v *httpapi.Validator) { v.Email("e", "") }, "required"},
		{"email display name", func(v *httpapi.Validator) { v.Email("e", "Al <a@example.com>") }, "valid email"},
		{"email no at", func(v *httpapi.Validator) { v.Email("e", "example.com") }, "valid email"},
		{"email too long", func(v *httpapi.Validator) { v.Email("e", strings.Repeat("a", 250)+"@x.io") }, "at most 254"},
		{"email NUL", func(v *httpapi.Validator) { v.Email("e", "a\x00@example.com") }, "valid email"},
		{"text ok unicode", func(v *httpapi.Validator) { v.Text("n", "Zoë 😀 中文", 10) }, ""},
		{"text counts runes", func(v *httpapi.Validator) { v.Text("n", strings.Repeat("é", 10), 10) }, ""},
		{"text too long", func(v *httpapi.Validator) { v.Text("n", strings.Repeat("é", 11), 10) }, "at most 10"},
		{"text NUL", func(v *httpapi.Validator) { v.Text("n", "a\x00b", 10) }, "control"},
		{"text newline", func(v *httpapi.Validator) { v.Text("n", "a\nb", 10) }, "control"},
		{"text invalid utf8", func(v *httpapi.Validator) { v.Text("n", "a\xffb", 10) }, "UTF-8"},
		{"password ok", func(v *httpapi.Validator) { v.Password("p", "SomePass!234") }, ""},
		{"password short", func(v *httpapi.Validator) { v.Password("p", "Ab1!") }, "at least 8"},
		{"password one class", func(v *httpapi.Validator) { v.Password("p", "abcdefghij") }, "mix"},
		{"password too long", func(v *httpapi.Validator) { v.Password("p", strings.Repeat("aB1", 100)) }, "at most 256"},
		{"password is username", func(v *httpapi.Validator) { v.Password("p", "Alice-2024", "alice-2024") }, "username"},
		{"password empty", func(v *httpapi.Validator) { v.Password("p", "") }, "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var v httpapi.Validator
			c.check(&v)
			if c.wantDetail == "" {
				require.True(t, v.OK(), "%v", v.Errors())
				require.Nil(t, v.Errors())
				return
			}
			require.False(t, v.OK())
			require.Len(t, v.Errors(), 1)
			require.Contains(t, v.Errors()[0].Detail, c.wantDetail)
		})
	}
}

func TestValidatorCollectsEveryField(t *testing.T) {
	t.Parallel()
	var v httpapi.Validator
	v.Username("username", "")
	v.Email("email", "nope")
	v.Add("x", "bad %d", 7)
	require.Equal(t, []codersdk.ValidationError{
		{Field: "username", Detail: "is required"},
		{Field: "email", Detail: "must be a valid email address"},
		{Field: "x", Detail: "bad 7"},
	}, v.Errors())
}
