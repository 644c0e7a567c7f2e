package httpapi

import (
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/opencoder/coder/codersdk"
)

// Validator collects field errors so a request reports all of them at once.
type Validator struct {
	errs []codersdk.ValidationError
}

// Add records a field error.
func (v *Validator) Add(field, format string, args ...any) {
	v.errs = append(v.errs, codersdk.ValidationError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// Errors returns what was recorded; nil when the request is valid.
func (v *Validator) Errors() []codersdk.ValidationError { return v.errs }

// OK reports whether nothing was recorded.
func (v *Validator) OK() bool { return len(v.errs) == 0 }

// Username checks a username (or any resource name) with
// codersdk.ValidateName, the rule clients share.
func (v *Validator) Username(field, s string) {
	if err := codersdk.ValidateName(s); err != nil {
		v.Add(field, "%s", err.Error())
	}
}

// Email checks an address.
func (v *Validator) Email(field, s string) {
	if s == "" {
		v.Add(field, "is required")
		return
	}
	if len(s) > 254 {
		v.Add(field, "must be at most 254 characters")
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		v.Add(field, "must be a valid email address")
	}
}

// Text checks a free-form string: valid UTF-8, no control characters, at
// most max runes.
func (v *Validator) Text(field, s string, max int) {
	if !utf8.ValidString(s) {
		v.Add(field, "must be valid UTF-8")
		return
	}
	if utf8.RuneCountInString(s) > max {
		v.Add(field, "must be at most %d characters", max)
		return
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) }) >= 0 {
		v.Add(field, "must not contain control characters")
	}
}

// Password checks strength: 8-64 characters, not only one kind of character,
// and not trivially derived from the user's name.
func (v *Validator) Password(field, pw string, avoid ...string) {
	n := utf8.RuneCountInString(pw)
	switch {
	case pw == "":
		v.Add(field, "is required")
		return
	case n < 8:
		v.Add(field, "must be at least 8 characters")
		return
	case len(pw) > 256:
		v.Add(field, "must be at most 256 bytes")
		return
	}
	var classes int
	for _, f := range []func(rune) bool{unicode.IsLower, unicode.IsUpper, unicode.IsDigit, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}} {
		if strings.IndexFunc(pw, f) >= 0 {
			classes++
		}
	}
	if classes < 2 {
		v.Add(field, "must mix at least two of: lower-case, upper-case, digits, symbols")
		return
	}
	for _, a := range avoid {
		if a != "" && strings.EqualFold(pw, a) {
			v.Add(field, "must not be the same as your username or email")
			return
		}
	}
}
