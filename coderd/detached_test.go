package coderd_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// A write that outlives its request (here the audit entry of a login) is
// bounded: with the audit table locked, the login still answers, and the
// write is given up and logged instead of pinning the handler forever.
func TestDetachedWriteIsBounded(t *testing.T) {
	t.Parallel()
	var logs testutil.LockedBuffer
	client, srv := coderdtest.New(t, &coderdtest.Options{Logger: testutil.TeeLogger(t, &logs), DetachedWriteTimeout: 200 * time.Millisecond})
	coderdtest.CreateFirstUser(t, client)
	ctx := testutil.Context(t, testutil.WaitShort)

	lock, err := srv.DB.Pool().Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lock.Rollback(ctx) })
	_, err = lock.Exec(ctx, `LOCK TABLE audit_logs IN EXCLUSIVE MODE`)
	require.NoError(t, err)

	res := call(ctx, t, srv, http.MethodPost, "/api/v2/users/login", "",
		codersdk.LoginWithPasswordRequest{Email: "admin@example.com", Password: coderdtest.FirstUserPassword})
	require.Equal(t, http.StatusCreated, res.status, "%s", res.body)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), "write audit log") && strings.Contains(logs.String(), "deadline exceeded")
	}, testutil.WaitShort, 10*time.Millisecond)
}
