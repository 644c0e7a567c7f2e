// Package httpapi writes coderd's JSON answers and reads JSON requests
// strictly, so every handler reports bad input the same way: a 4xx with
// codersdk.Response naming each bad field, never a 5xx. A server fault goes
// through InternalError, which logs the cause and answers a 500 that leaks
// nothing. Its text helpers (NoNUL, HasNUL, Truncate) keep what clients
// and daemons send storable in PostgreSQL.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/codersdk"
)

// MaxBodyBytes bounds request bodies that Read decodes.
const MaxBodyBytes = 1 << 20

// Write encodes v as JSON with the given status.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// Error writes a codersdk.Response with a message (and optional detail).
func Error(w http.ResponseWriter, status int, message string, detail ...string) {
	Write(w, status, codersdk.Response{Message: message, Detail: strings.Join(detail, " ")})
}

// Validation writes 400 with field-level validations.
func Validation(w http.ResponseWriter, message string, v []codersdk.ValidationError) {
	Write(w, http.StatusBadRequest, codersdk.Response{Message: message, Validations: v})
}

// ResourceNotFound answers 404; also used for objects the caller may not
// read, so their existence does not leak.
func ResourceNotFound(w http.ResponseWriter) {
	Error(w, http.StatusNotFound, "Resource not found or you do not have access to this resource.")
}

// Forbidden answers 403 for actions on objects the caller can see but not
// change.
func Forbidden(w http.ResponseWriter) {
	Error(w, http.StatusForbidden, "Forbidden.", "You do not have permission to perform this action.")
}

// DatabaseUnavailableMessage is the answer to a request that failed
// because PostgreSQL is out of reach.
const DatabaseUnavailableMessage = "The database is unreachable; try again shortly."

// InternalError answers 500 without leaking internals, logging the cause;
// or 503 with Retry-After when the cause is a database out of reach
// (database.IsUnavailable), since then the request itself was fine and
// will work again once the database is back.
func InternalError(w http.ResponseWriter, r *http.Request, log *slog.Logger, msg string, err error) {
	if database.IsUnavailable(err) {
		log.WarnContext(r.Context(), msg+": database unreachable", slog.String("path", r.URL.Path), slog.Any("error", err))
		w.Header().Set("Retry-After", "5")
		Error(w, http.StatusServiceUnavailable, DatabaseUnavailableMessage,
			"This server cannot reach PostgreSQL ("+msg+"); it serves again by itself once the database answers.")
		return
	}
	log.ErrorContext(r.Context(), msg, slog.String("path", r.URL.Path), slog.Any("error", err))
	Error(w, http.StatusInternalServerError, "Internal error: "+msg+".", "The server logged the details.")
}

// Read decodes the JSON body into v strictly: the right content type,
// bounded size, no unknown fields, no trailing data, and field-level errors
// for wrong types. On failure it writes the 4xx answer and returns false.
func Read(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "text/plain" && mt != "application/x-www-form-urlencoded") {
			// curl -d sends form-urlencoded by default; accept it as JSON so
			// the usual one-liners work, reject anything else.
			Error(w, http.StatusUnsupportedMediaType, "Request body must be JSON.", fmt.Sprintf("Content-Type %q is not supported.", ct))
			return false
		}
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeDecodeError(w, err)
		return false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		Error(w, http.StatusBadRequest, "Request body must be a single JSON object.", "Unexpected data after the JSON object.")
		return false
	}
	return true
}

func writeDecodeError(w http.ResponseWriter, err error) {
	var (
		syntaxErr   *json.SyntaxError
		typeErr     *json.UnmarshalTypeError
		maxBytesErr *http.MaxBytesError
	)
	switch {
	case errors.As(err, &maxBytesErr):
		Error(w, http.StatusRequestEntityTooLarge, "Request body too large.", fmt.Sprintf("The limit is %d bytes.", maxBytesErr.Limit))
	case errors.Is(err, io.EOF):
		Error(w, http.StatusBadRequest, "Request body is empty.", "Send a JSON object.")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		Error(w, http.StatusBadRequest, "Request body is not valid JSON.", err.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			Error(w, http.StatusBadRequest, "Request body must be a JSON object.", err.Error())
			return
		}
		Validation(w, "Invalid request body.", []codersdk.ValidationError{{
			Field:  field,
			Detail: fmt.Sprintf("must be of type %s, got %s", jsonType(typeErr.Type.Kind().String()), typeErr.Value),
		}})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for unknown fields.
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		Validation(w, "Invalid request body.", []codersdk.ValidationError{{Field: name, Detail: "unknown field"}})
	default:
		Error(w, http.StatusBadRequest, "Request body could not be decoded.", err.Error())
	}
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	default:
		return "number"
	}
}
