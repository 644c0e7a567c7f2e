package httpapi_test

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/httpapi"
)

// TestInternalErrorDatabaseUnavailable: a handler that fails because
// PostgreSQL is out of reach answers 503 with a message saying so (and
// Retry-After), not a 500 that reads like a bug.
func TestInternalErrorDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.DiscardHandler)
	r := httptest.NewRequest(http.MethodGet, "/api/v2/users/me", nil)

	w := httptest.NewRecorder()
	httpapi.InternalError(w, r, log, "look up user", fmt.Errorf("get user: %w", pgconn.ErrConnClosed))
	require.Equal(t, http.StatusServiceUnavailable, w.Code)
	require.Equal(t, "5", w.Header().Get("Retry-After"))
	res := decodeResponse(t, w)
	require.Equal(t, httpapi.DatabaseUnavailableMessage, res.Message)
	require.Contains(t, res.Detail, "look up user")

	w = httptest.NewRecorder()
	httpapi.InternalError(w, r, log, "look up user", errors.New("boom"))
	require.Equal(t, http.StatusInternalServerError, w.Code)
	require.Empty(t, w.Header().Get("Retry-After"))
	require.NotContains(t, decodeResponse(t, w).Detail, "boom")
}
