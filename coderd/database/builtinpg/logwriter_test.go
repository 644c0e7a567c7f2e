package builtinpg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLogWriter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := newLogWriter(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))

	// Lines arrive split across writes.
	for _, chunk := range []string{
		"LOG:  database system is ready\nWARN", "ING:  low disk\n",
		"FATAL:  password authentication failed for user \"coder\"\n",
		"DETAIL:  Connection matched pg_hba.conf line 87\n",
		"unprefixed line\n\n",
		"partial without newline",
	} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		require.Equal(t, len(chunk), n)
	}

	type record struct {
		Level, Msg, Severity string
	}
	var got []record
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var r record
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		got = append(got, r)
	}
	require.Equal(t, []record{
		{"INFO", "postgres: database system is ready", "LOG"},
		{"WARN", "postgres: low disk", "WARNING"},
		{"ERROR", `postgres: password authentication failed for user "coder"`, "FATAL"},
		{"ERROR", "postgres: Connection matched pg_hba.conf line 87", "DETAIL"},
		{"ERROR", "postgres: unprefixed line", ""},
	}, got)
	require.True(t, strings.HasSuffix(w.Tail(), "DETAIL:  Connection matched pg_hba.conf line 87\nunprefixed line"), w.Tail())

	for i := range 2 * tailLines {
		_, _ = fmt.Fprintf(w, "LOG:  line %d\n", i)
	}
	require.Len(t, strings.Split(w.Tail(), "\n"), tailLines)
}
