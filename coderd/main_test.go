package coderd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/apikey"
	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/coderd/database"
	"github.com/opencoder/coder/coderd/database/dbtestutil"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestMain runs the tests on real PostgreSQL (dbtestutil), then fails the
// run if any goroutine outlived them: every server, subscription and
// websocket a test starts must be stopped by its cleanup.
func TestMain(m *testing.M) { os.Exit(testutil.LeakCheck(dbtestutil.Main(m))) }

// rawResponse is one answer as it came over the wire.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body as the API's error/message shape.
func (r rawResponse) response(t testing.TB) codersdk.Response {
	t.Helper()
	var out codersdk.Response
	require.NoError(t, json.Unmarshal(r.body, &out), "body is not a JSON response: %q", r.body)
	return out
}

// call sends one request to srv as token (anonymous when empty) and returns
// the answer without interpreting it. body is sent as JSON (a []byte as is,
// with Content-Type application/json); opts may change headers afterwards.
func call(ctx context.Context, t testing.TB, srv *coderdtest.Server, method, path, token string, body any, opts ...codersdk.RequestOption) rawResponse {
	t.Helper()
	c := codersdk.New(srv.URL)
	c.SetSessionToken(token)
	res, err := c.Request(ctx, method, path, body, opts...)
	require.NoError(t, err, "%s %s", method, path)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return rawResponse{status: res.StatusCode, header: res.Header, body: b}
}

// mintToken stores an API key for user directly in the database, bypassing
// the API, so a test can hold keys the API would never hand out (already
// expired, or for a suspended user). name "" makes a session.
func mintToken(ctx context.Context, t testing.TB, db *database.Store, user uuid.UUID, expires time.Time, name string) (token, id string) {
	t.Helper()
	id, secret, hashed, err := apikey.Generate()
	require.NoError(t, err)
	lt := string(codersdk.LoginTypePassword)
	if name != "" {
		lt = string(codersdk.LoginTypeToken)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	_, err = db.InsertAPIKey(ctx, database.APIKey{
		ID: id, HashedSecret: hashed, UserID: user, LoginType: lt, TokenName: name,
		Scope: string(codersdk.APIKeyScopeAll), LifetimeSeconds: 3600, ExpiresAt: expires.UTC(),
		LastUsed: now, CreatedAt: now,
	})
	require.NoError(t, err)
	return apikey.Token(id, secret), id
}

// jsonBody is a raw JSON body for call; []byte is sent as is.
func jsonBody(s string) []byte { return bytes.Clone([]byte(s)) }

// offsetClock is the server's clock in tests that move time: real time
// plus an offset the test advances, so the database's own now() stays close.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

func (c *offsetClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

func requireStatus(t *testing.T, err error, status int) {
	t.Helper()
	require.Error(t, err)
	require.True(t, codersdk.IsStatus(err, status), "want %d, got %v", status, err)
}

// auditFind returns the entries matching pred, newest first.
func auditFind(t *testing.T, client *codersdk.Client, pred func(codersdk.AuditLog) bool) []codersdk.AuditLog {
	t.Helper()
	ctx := testutil.Context(t, 30*time.Second)
	res, err := client.AuditLogs(ctx, codersdk.AuditLogsRequest{Limit: 1000})
	require.NoError(t, err)
	require.EqualValues(t, len(res.AuditLogs), res.Count)
	var out []codersdk.AuditLog
	for _, a := range res.AuditLogs {
		if pred(a) {
			out = append(out, a)
		}
	}
	return out
}

func containsKey(raw json.RawMessage, key string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, ok := m[key]
	return ok
}
