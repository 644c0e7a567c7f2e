package provisionerdserver

import (
	"net/url"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/coderd/pubsub"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// newTestServer starts a Server on a fresh database.
func newTestServer(t *testing.T) (*Server, *database.Store) {
	t.Helper()
	ctx := testutil.Context(t, testutil.WaitLong)
	db, err := database.Open(ctx, dbtestutil.NewDB(t))
	require.NoError(t, err)
	t.Cleanup(db.Close)
	ps, err := pubsub.New(ctx, db.Pool(), testutil.Logger(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = ps.Close() })
	s, err := New(ctx, Options{DB: db, Pubsub: ps, AccessURL: &url.URL{Scheme: "http", Host: "localhost"}, Logger: testutil.Logger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, db
}

// A statement that fails inside a transaction aborts it: every later
// statement fails with "current transaction is aborted". The error returned
// must be the first one, which names the real cause.
func TestFailJobInternalReturnsFirstStatementError(t *testing.T) {
	t.Parallel()
	s, _ := newTestServer(t)
	ctx := testutil.Context(t, testutil.WaitShort)
	// No such job row: the transaction's first statement, the log insert,
	// breaks the provisioner_job_logs foreign key.
	job := database.ProvisionerJob{ID: uuid.New(), Type: string(codersdk.ProvisionerJobTypeTemplateVersionImport)}
	err := s.failJobInternal(ctx, job, "Coder could not prepare the job", codersdk.JobErrorCodeInternal)
	require.Error(t, err)
	require.ErrorContains(t, err, "insert failure log")
	require.ErrorContains(t, err, "provisioner_job_logs")
	require.NotContains(t, err.Error(), "current transaction is aborted")
}
