package cli

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opencoder/coder/codersdk"
)

// This file is the CLI's one error renderer. Every error a command returns
// from an API call goes through wrapAPI, so people read the server's
// message, its field errors and the status, never the raw request line
// ("POST http://...: 400 Bad Request: ..."); Main renders what escaped.

// exitError ends the process with a given code without printing more.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// apiError is an API error shown as its message, detail and field errors,
// without the request line; errors.As still finds the *codersdk.Error.
type apiError struct {
	op  string
	err *codersdk.Error
}

// fieldIndex strips the request path from field names like
// "rich_parameter_values[2](region)".
var fieldIndex = regexp.MustCompile(`^rich_parameter_values(\[\d+\])?\((.*)\)$`)

func (e *apiError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", e.op, strings.TrimSpace(e.err.Message))
	if e.err.Detail != "" {
		fmt.Fprintf(&b, " %s", e.err.Detail)
	}
	if code := e.err.StatusCode(); code != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", code)
	}
	for _, v := range e.err.Validations {
		field := v.Field
		if m := fieldIndex.FindStringSubmatch(field); m != nil {
			field = "parameter " + m[2]
		}
		fmt.Fprintf(&b, "\n  %s: %s", field, v.Detail)
	}
	if e.err.Helper != "" {
		fmt.Fprintf(&b, "\n%s", e.err.Helper)
	}
	return b.String()
}

func (e *apiError) Unwrap() error { return e.err }

// wrapAPI prefixes err with op; API errors are shortened (see apiError).
// A nil err stays nil.
func wrapAPI(op string, err error) error {
	if err == nil {
		return nil
	}
	var sdkErr *codersdk.Error
	if errors.As(err, &sdkErr) {
		return &apiError{op: op, err: sdkErr}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// renderError is the text Main prints for err. An API error that reached
// it without wrapAPI (wrapped by fmt.Errorf somewhere) is shown in
// apiError's form all the same.
func renderError(err error) string {
	msg := err.Error()
	var sdkErr *codersdk.Error
	var shown *apiError
	if errors.As(err, &sdkErr) && !errors.As(err, &shown) {
		short := (&apiError{err: sdkErr}).Error()
		msg = strings.Replace(msg, sdkErr.Error(), strings.TrimPrefix(short, ": "), 1)
	}
	return msg
}
