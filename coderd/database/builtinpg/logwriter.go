package builtinpg

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// tailLines is how many recent output lines an error quotes.
const tailLines = 20

// logWriter turns postgres's stderr into structured log records and keeps the
// last lines for error messages. The server runs with an empty log_line_prefix, so
// each line starts with its severity ("LOG:  ...", "FATAL:  ...").
//
// Write is called from the exec package's copying goroutine; Tail from any.
type logWriter struct {
	logger *slog.Logger

	mu      sync.Mutex // guards the fields below
	partial []byte     // an unterminated line
	level   slog.Level // of the last record, for DETAIL/HINT lines
	tail    []string
}

func newLogWriter(logger *slog.Logger) *logWriter {
	return &logWriter{logger: logger, level: slog.LevelInfo}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.lineLocked(string(w.partial[:i]))
		w.partial = w.partial[i+1:]
	}
	return len(p), nil
}

// lineLocked logs one line; w.mu must be held.
func (w *logWriter) lineLocked(line string) {
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return
	}
	w.tail = append(w.tail, line)
	if len(w.tail) > tailLines {
		w.tail = w.tail[len(w.tail)-tailLines:]
	}
	severity, msg, ok := strings.Cut(line, ":")
	switch severity {
	case "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5":
		w.level = slog.LevelDebug
	case "LOG", "INFO", "NOTICE":
		w.level = slog.LevelInfo
	case "WARNING":
		w.level = slog.LevelWarn
	case "ERROR", "FATAL", "PANIC":
		w.level = slog.LevelError
	case "DETAIL", "HINT", "CONTEXT", "STATEMENT", "LOCATION", "QUERY":
		// A continuation of the previous record: same level.
	default:
		ok = false
	}
	if ok {
		line = strings.TrimSpace(msg)
	}
	attrs := []slog.Attr{}
	if ok {
		attrs = append(attrs, slog.String("severity", severity))
	}
	w.logger.LogAttrs(context.Background(), w.level, "postgres: "+line, attrs...)
}

// Tail returns the last lines written, for error messages.
func (w *logWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.tail, "\n")
}
