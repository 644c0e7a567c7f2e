package agent

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// status is an answer from coderd with the given status code.
func status(code int) error {
	return codersdk.ReadBodyAsError(&http.Response{
		StatusCode: code,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"message":"test"}`)),
	})
}

// retry retries what retrying can fix (network errors, 5xx, 408, 429) and
// gives up at once on other 4xx; retryAll retries everything; both stop
// when ctx ends.
func TestRetrySemantics(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		log := testutil.Logger(t)
		ctx := context.Background()
		calls := 0
		failing := func(errs ...error) func() (int, error) {
			calls = 0
			return func() (int, error) {
				calls++
				if calls <= len(errs) {
					return 0, errs[calls-1]
				}
				return calls, nil
			}
		}

		v, err := retry(ctx, log, "op", failing(errors.New("connection refused"), status(502), status(429), status(408)))
		require.NoError(t, err)
		require.Equal(t, 5, v)

		_, err = retry(ctx, log, "op", failing(status(401)))
		require.ErrorContains(t, err, "op: ")
		require.True(t, codersdk.IsStatus(err, 401))
		require.Equal(t, 1, calls, "a 4xx is not retried")

		v, err = retryAll(ctx, log, "op", failing(status(401), status(404)))
		require.NoError(t, err)
		require.Equal(t, 3, v)

		tctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err = retryAll(tctx, log, "op", func() (int, error) { return 0, status(503) })
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}
