package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// NoNUL replaces NUL characters, which PostgreSQL text cannot hold, in
// program output (log lines, error messages): kept, not refused, since
// the program that printed them cannot be asked to try again.
func NoNUL(s string) string { return strings.ReplaceAll(s, "\x00", "\uFFFD") }

// HasNUL reports whether a string or object key in v's JSON form holds a
// NUL character, which PostgreSQL text and jsonb cannot store.
func HasNUL(v any) bool {
	b, err := json.Marshal(v)
	if err != nil || !bytes.Contains(b, []byte(`\u0000`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return true
		}
	}
}

// Truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(truncated)"
}
