package httpmw

import (
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/opencoder/coder/coderd/httpapi"
	"github.com/opencoder/coder/codersdk"
)

// ValidText answers 400 when the URL path or a query parameter holds a NUL
// byte or invalid UTF-8. PostgreSQL text can hold neither, so such a value
// (an ID, a name, a search) would otherwise reach a query and fail there as
// a 500; rejecting it once here covers every route.
func ValidText(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !validText(r.URL.Path) {
			httpapi.Error(w, http.StatusBadRequest, "Invalid URL path.", "The path must be valid UTF-8 without NUL characters.")
			return
		}
		var bad []codersdk.ValidationError
		for k, vs := range r.URL.Query() {
			ok := validText(k)
			for _, v := range vs {
				ok = ok && validText(v)
			}
			if !ok {
				bad = append(bad, codersdk.ValidationError{Field: strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", ""), "\uFFFD"),
					Detail: "must be valid UTF-8 without NUL characters"})
			}
		}
		if len(bad) > 0 {
			httpapi.Validation(w, "Invalid query parameters.", bad)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}
