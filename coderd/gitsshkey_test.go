package coderd_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/coderd/coderdtest"
	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// requireEd25519Line parses an authorized_keys line and requires an
// ed25519 key with nothing after it.
func requireEd25519Line(t *testing.T, line string) ssh.PublicKey {
	t.Helper()
	require.NotContains(t, line, "\n")
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	require.NoError(t, err, "public key %q", line)
	require.Empty(t, rest)
	require.Equal(t, ssh.KeyAlgoED25519, pub.Type())
	return pub
}

// requirePairMatches parses an OpenSSH private key and requires its public
// half to be publicKey.
func requirePairMatches(t *testing.T, privatePEM, publicKey string) {
	t.Helper()
	require.True(t, strings.HasPrefix(privatePEM, "-----BEGIN OPENSSH PRIVATE KEY-----\n"), "private key format: %.40q", privatePEM)
	signer, err := ssh.ParsePrivateKey([]byte(privatePEM))
	require.NoError(t, err)
	pub := requireEd25519Line(t, publicKey)
	require.Equal(t, pub.Marshal(), signer.PublicKey().Marshal(), "the private key is not the public key's pair")
}

// TestGitSSHKey: the first read makes a valid ed25519 key and later reads
// return it unchanged; regenerating replaces it (audited); a member gets
// 404 on someone else's key and cannot replace it; an owner reads a
// member's; the private key never appears in these answers.
func TestGitSSHKey(t *testing.T) {
	t.Parallel()
	owner, srv := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, owner)
	member, memberUser := coderdtest.CreateAnotherUser(t, owner)
	ctx := testutil.Context(t, time.Minute)

	first, err := member.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	requireEd25519Line(t, first.PublicKey)
	require.Equal(t, memberUser.ID, first.UserID)
	require.False(t, first.CreatedAt.IsZero())
	require.Equal(t, first.CreatedAt, first.UpdatedAt)
	again, err := member.GitSSHKey(ctx, memberUser.Username)
	require.NoError(t, err)
	require.Equal(t, first, again, "a second read returns the stored key")

	// The owner reads the member's key; the member gets 404 on the owner's.
	byOwner, err := owner.GitSSHKey(ctx, memberUser.ID.String())
	require.NoError(t, err)
	require.Equal(t, first, byOwner)
	ownerKey, err := owner.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.NotEqual(t, first.PublicKey, ownerKey.PublicKey, "each user has their own key")
	_, err = member.GitSSHKey(ctx, "admin")
	requireStatus(t, err, http.StatusNotFound)
	_, err = member.RegenerateGitSSHKey(ctx, "admin")
	requireStatus(t, err, http.StatusNotFound)
	unchanged, err := owner.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, ownerKey, unchanged, "the member's attempt changed nothing")

	// Regenerate: a new key, same creation time, later update time.
	regen, err := member.RegenerateGitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	requireEd25519Line(t, regen.PublicKey)
	require.NotEqual(t, first.PublicKey, regen.PublicKey)
	require.Equal(t, first.CreatedAt, regen.CreatedAt)
	require.False(t, regen.UpdatedAt.Before(first.UpdatedAt))
	now, err := member.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, regen, now)

	entries := auditFind(t, owner, func(a codersdk.AuditLog) bool {
		return a.ResourceType == "user" && a.ResourceID == memberUser.ID && containsKey(a.Diff, "git_ssh_public_key")
	})
	require.Len(t, entries, 1, "one regeneration, one audit entry")
	require.Equal(t, codersdk.AuditActionWrite, entries[0].Action)
	require.Equal(t, memberUser.ID, entries[0].User.ID)
	var diff map[string]map[string]string
	require.NoError(t, json.Unmarshal(entries[0].Diff, &diff))
	require.Equal(t, map[string]string{"old": first.PublicKey, "new": regen.PublicKey}, diff["git_ssh_public_key"])

	// Regenerating a key that was never read makes one too.
	_, fresh := coderdtest.CreateAnotherUser(t, owner)
	made, err := owner.RegenerateGitSSHKey(ctx, fresh.ID.String())
	require.NoError(t, err)
	requireEd25519Line(t, made.PublicKey)

	// No user route answers with the private half.
	for _, method := range []string{"GET", "PUT"} {
		res := call(ctx, t, srv, method, "/api/v2/users/me/gitsshkey", member.SessionToken(), nil)
		require.Equal(t, http.StatusOK, res.status, "%s", res.body)
		require.NotContains(t, string(res.body), "PRIVATE")
		require.NotContains(t, string(res.body), "private_key")
	}
}

// TestGitSSHKeyConcurrentFirstRead: users racing to make their first key
// all get the same one.
func TestGitSSHKeyConcurrentFirstRead(t *testing.T) {
	t.Parallel()
	owner, _ := coderdtest.New(t, nil)
	coderdtest.CreateFirstUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	const n = 8
	keys := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			k, err := owner.GitSSHKey(ctx, codersdk.Me)
			errs <- err
			keys <- k.PublicKey
		}()
	}
	seen := map[string]bool{}
	for range n {
		require.NoError(t, <-errs)
		seen[<-keys] = true
	}
	require.Len(t, seen, 1, "concurrent first reads stored more than one key")
}

// TestAgentGitSSHKey: a workspace's agent gets its owner's key pair, the
// private key matching the public key the owner sees; the provisioner job
// of every build carries the same pair for data.coder_workspace_owner; a
// regenerated key reaches both.
func TestAgentGitSSHKey(t *testing.T) {
	t.Parallel()
	owner, daemon, _, tmpl := setupTemplate(t)
	member, _ := coderdtest.CreateAnotherUser(t, owner)
	ctx := testutil.Context(t, time.Minute)
	params := []codersdk.WorkspaceBuildParameter{{Name: "image", Value: "ubuntu"}}
	ws, err := member.CreateUserWorkspace(ctx, codersdk.Me, codersdk.CreateWorkspaceRequest{TemplateID: tmpl.ID, Name: "gitws", RichParameterValues: params})
	require.NoError(t, err)
	token := uuid.NewString()
	job := coderdtest.CompleteBuild(t, daemon, ws.LatestBuild.ID, token)

	mine, err := member.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	md := job.WorkspaceBuild.Metadata
	require.Equal(t, mine.PublicKey, md.OwnerSSHPublicKey, "the build's env carries the owner's public key")
	requirePairMatches(t, md.OwnerSSHPrivateKey, md.OwnerSSHPublicKey)

	agent := codersdk.New(owner.URL)
	agent.SetSessionToken(token)
	pair, err := agent.AgentGitSSHKey(ctx)
	require.NoError(t, err)
	require.Equal(t, mine.PublicKey, pair.PublicKey)
	requirePairMatches(t, pair.PrivateKey, mine.PublicKey)
	require.Equal(t, md.OwnerSSHPrivateKey, pair.PrivateKey)
	ownerKey, err := owner.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.NotEqual(t, ownerKey.PublicKey, pair.PublicKey, "the workspace owner's key, not the template's or the caller's")

	// A new key: the agent gets it at once, and the next build (a stop,
	// too) carries it.
	regen, err := member.RegenerateGitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	pair, err = agent.AgentGitSSHKey(ctx)
	require.NoError(t, err)
	require.Equal(t, regen.PublicKey, pair.PublicKey)
	requirePairMatches(t, pair.PrivateKey, regen.PublicKey)
	b, err := member.CreateWorkspaceBuild(ctx, ws.ID, codersdk.CreateWorkspaceBuildRequest{Transition: codersdk.WorkspaceTransitionStop})
	require.NoError(t, err)
	stop := coderdtest.CompleteBuild(t, daemon, b.ID, uuid.NewString())
	require.Equal(t, "stop", stop.WorkspaceBuild.Metadata.WorkspaceTransition)
	require.Equal(t, regen.PublicKey, stop.WorkspaceBuild.Metadata.OwnerSSHPublicKey)
	require.Equal(t, pair.PrivateKey, stop.WorkspaceBuild.Metadata.OwnerSSHPrivateKey)
}
