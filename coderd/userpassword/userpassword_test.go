package userpassword_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/opencoder/coder/coderd/userpassword"
)

func TestHashCompare(t *testing.T) {
	t.Parallel()
	h, err := userpassword.Hash("SomePass!234", userpassword.Default)
	require.NoError(t, err)
	require.NoError(t, userpassword.Compare(h, "SomePass!234"))
	require.ErrorIs(t, userpassword.Compare(h, "SomePass!235"), userpassword.ErrMismatch)
	h2, err := userpassword.Hash("SomePass!234", userpassword.Default)
	require.NoError(t, err)
	require.NotEqual(t, h, h2, "salts must differ")
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1,p=1$$", "$bcrypt$x$y$z$w", "$argon2id$v=19$m=x$a$b"} {
		require.Error(t, userpassword.Compare(bad, "x"), bad)
	}
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		_, _ = userpassword.Hash("SomePass!234", userpassword.Default)
	}
}
