package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/testutil"
)

// Template admins pull a build's Terraform state and push a repaired one;
// others are refused, and what is not a state never reaches the server.
func TestStatePullPush(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.createTemplate(t)
	ctx := testutil.Context(t, 2*time.Minute)
	e.createWorkspace(t, ctx, "dev")

	code, stdout, stderr := e.exec(t, ctx, nil, "state", "pull", "dev")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "state", stdout, "the state the build stored, byte for byte")

	dir := t.TempDir()
	file := filepath.Join(dir, "dev.tfstate")
	require.NoError(t, os.WriteFile(file, []byte(`{"version": 4, "resources": []}`), 0o600))
	code, _, stderr = e.exec(t, ctx, nil, "state", "push", "dev", file)
	require.NotEqual(t, 0, code, "replacing state is destructive: -y off a terminal")
	require.Contains(t, stderr, "-y")
	code, stdout, stderr = e.exec(t, ctx, nil, "state", "push", "dev", file, "-y")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "Replaced the state of admin/dev (build #1)")

	out := filepath.Join(dir, "pulled.tfstate")
	code, _, stderr = e.exec(t, ctx, nil, "state", "pull", "dev", out, "--build", "1")
	require.Equal(t, 0, code, stderr)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, `{"version": 4, "resources": []}`, string(got))
	fi, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the state holds secrets")

	code, _, stderr = e.exec(t, ctx, nil, "state", "pull", "dev", "--build", "7")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "has no build #7: its builds are #1 to #1")
	code, _, stderr = e.exec(t, ctx, strings.NewReader("not json"), "state", "push", "dev", "-", "-y")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "is not a Terraform state")

	// A member may not read the state, even of their own workspace.
	member, _ := coderdtest.CreateAnotherUser(t, e.owner)
	me := newEnv(t)
	me.loginAs(member.URL.String(), member.SessionToken())
	code, _, stderr = me.exec(t, ctx, nil, "state", "pull", "admin/dev")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "not found", "a member cannot even see another's workspace")
}
