package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/opencoder/coder/codersdk"
	"github.com/opencoder/coder/testutil"
)

// TestPublicKey: `coder publickey` prints the key the API holds (alone on
// stdout, the hint and fingerprint on stderr); --reset without a terminal
// needs -y and changes nothing; with -y it prints a new key that the API
// now returns.
func TestPublicKey(t *testing.T) {
	t.Parallel()
	e, client, _ := loggedIn(t)
	ctx := testutil.Context(t, time.Minute)

	r := e.run("publickey")
	require.Zero(t, r.code, r.stderr)
	printed := strings.TrimSpace(r.stdout)
	pub, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(printed))
	require.NoError(t, err, "stdout is one authorized_keys line: %q", r.stdout)
	require.Empty(t, rest)
	require.Equal(t, ssh.KeyAlgoED25519, pub.Type())
	require.Contains(t, r.stderr, "Add it to your git provider")
	require.Contains(t, r.stderr, "Fingerprint: "+ssh.FingerprintSHA256(pub))
	key, err := client.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, key.PublicKey, printed)
	require.Equal(t, printed, strings.TrimSpace(e.ok("pubkey")), "printing twice shows the same key")

	require.Contains(t, e.fails("publickey", "--reset"), "pass -y")
	key, err = client.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, printed, key.PublicKey, "an unconfirmed reset changed the key")

	r = e.run("publickey", "--reset", "-y")
	require.Zero(t, r.code, r.stderr)
	fresh := strings.TrimSpace(r.stdout)
	require.NotEqual(t, printed, fresh)
	require.Contains(t, r.stderr, "A new git SSH key was generated")
	key, err = client.GitSSHKey(ctx, codersdk.Me)
	require.NoError(t, err)
	require.Equal(t, fresh, key.PublicKey)
	require.Equal(t, fresh, strings.TrimSpace(e.ok("publickey")))
}
